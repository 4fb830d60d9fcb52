package jdiffusion.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tools.shapes.TinyShapesRecipe;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** save_pretrained then load: a randomly initialised tiny pipeline written and read back, then run. */
class PipelineWriterTest {
    @Test
    void aWrittenTinyPipelineLoadsAndGenerates(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("tiny");
        torch.manual_seed(1);
        UNet2DConditionModel unet = new UNet2DConditionModel(TinyShapesRecipe.unetConfig());
        AutoencoderKL vae = new AutoencoderKL(TinyShapesRecipe.vaeConfig(0.5));
        CLIPTextModel text = new CLIPTextModel(TinyShapesRecipe.textConfig());
        try {
            TinyShapesRecipe.export(out, unet, vae, text, PredictionType.V_PREDICTION);
            for (String f : new String[] {"model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                    "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
                    "text_encoder/model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt",
                    "scheduler/scheduler_config.json"}) {
                assertTrue(Files.isRegularFile(out.resolve(f)), f);
            }
            try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(out.toString(), PipelineOptions.defaults())) {
                assertEquals(64, pipe.defaultSize());
                assertEquals(0.5, pipe.vae().scalingFactor());
                assertEquals(TinyShapesRecipe.unetConfig(), pipe.unet().config());
                assertEquals(TinyShapesRecipe.textConfig(), pipe.textEncoder().config());
                try (PointerScope scope = new PointerScope()) {
                    var written = ModuleTensors.namedTensors(unet);
                    var read = ModuleTensors.namedTensors(pipe.unet());
                    assertEquals(written.keySet(), read.keySet());
                    for (var e : written.entrySet()) {
                        Tensor half = e.getValue().to(ScalarType.Half).to(ScalarType.Float);
                        assertEquals(0.0, Tensors.maxAbsDiff(half, read.get(e.getKey())), 0.0, e.getKey());
                    }
                }
                BufferedImage image = pipe.generate(GenerationRequest.builder("a red circle on a blue background")
                        .steps(3).seed(1).build()).images().getFirst();
                assertEquals(64, image.getWidth());
                assertEquals(64, image.getHeight());
            }
        } finally {
            unet.close();
            vae.close();
            text.close();
        }
    }
}
