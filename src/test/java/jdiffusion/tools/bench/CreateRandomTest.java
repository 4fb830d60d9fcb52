package jdiffusion.tools.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.cli.CliRunner;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code create-random}: folders that load and generate, with the published parameter counts. */
class CreateRandomTest {
    @TempDir
    Path tmp;

    @Test
    void tinyFolderLoadsAndGeneratesFiniteImages() throws Exception {
        Path dir = tmp.resolve("tiny");
        CliRunner r = CliRunner.run("create-random", "--config", "tiny", "--dtype", "fp16", "--seed", "3", dir.toString());
        assertEquals(0, r.exitCode(), r.err());
        System.out.print(r.out());
        assertTrue(r.out().contains("byte-level"), r.out());
        for (String f : new String[] {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "vae/config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json", "scheduler/scheduler_config.json"}) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve("unet/diffusion_pytorch_model.safetensors"))) {
            assertEquals(ScalarType.Half.value, f.load("conv_in.weight", ScalarType.Half).scalar_type().value);
        }
        // no staging folder is left next to the result
        try (var siblings = Files.list(tmp)) {
            assertEquals(1, siblings.count());
        }

        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(dir.toString(), PipelineOptions.defaults())) {
            // the byte-level vocabulary: bos, one token per byte (the last with </w>; "!" is 0, so "a" is 64), eos
            assertArrayEquals(new int[] {49406, 64, 256 + 65, 49407}, pipe.tokenizer().encode("ab"));
            GenerationResult result = pipe.generate(GenerationRequest.builder("a red circle")
                    .negativePrompt("blurry").steps(3).width(64).height(64).seed(1).build());
            assertEquals(64, result.images().getFirst().getWidth());
            assertTrue(Double.isFinite(Tensors.maxAbs(result.finalLatents())), "latents must stay finite");
            assertTrue(Tensors.maxAbs(result.finalLatents()) > 0);
        }
        CliRunner again = CliRunner.run("create-random", "--config", "tiny", dir.toString());
        assertNotEquals(0, again.exitCode());
        assertTrue(again.err().contains("not empty"), again.err());
    }

    @Test
    void tokenizerFolderIsCopiedWhenGiven() {
        Path real = Golden.shared().resolve("clip-tokenizer/sd1");
        Path dir = tmp.resolve("tiny-real-tokenizer");
        RandomPipelineFolder.create(RandomModel.TINY, dir, ScalarType.Float, 0, real, line -> {});
        CLIPTokenizer copied = CLIPTokenizer.load(dir);
        assertArrayEquals(CLIPTokenizer.load(real).encode("a red circle"), copied.encode("a red circle"));
    }

    /** The text encoders' counts as transformers reports them; the UNet and VAE ones are in RandomModelsTest. */
    @Test
    void textEncoderParameterCounts() {
        CLIPTextModel sd15 = RandomPipelineFolder.randomTextEncoder(RandomModel.SD15, 0);
        try {
            assertEquals(123_060_480L, RandomPipelineFolder.parameterCount(sd15)); // CLIP ViT-L/14
        } finally {
            sd15.close();
        }
        CLIPTextModel sd21 = new CLIPTextModel(RandomModel.SD21.textEncoder());
        try {
            assertEquals(340_387_840L, RandomPipelineFolder.parameterCount(sd21)); // OpenCLIP ViT-H/14, 23 layers
        } finally {
            sd21.close();
        }
    }
}
