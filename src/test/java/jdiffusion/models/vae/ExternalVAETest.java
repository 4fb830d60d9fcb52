package jdiffusion.models.vae;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.LdmKeyMap;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --vae: the golden VAE as a folder, as its diffusers file, and converted to the two LDM single-file layouts. */
class ExternalVAETest {
    @TempDir
    Path dir;

    private static Path folder() {
        return Golden.model("sd1-tiny-pipeline").resolve("vae");
    }

    private static AutoencoderKLConfig config() {
        return AutoencoderKLConfig.fromJson(folder().resolve("config.json"));
    }

    /** The golden VAE rewritten under LDM names below {@code prefix}, plus {@code extra} tensors. */
    private Path ldmCopy(String name, String prefix, Map<String, Tensor> extra) {
        Path out = dir.resolve(name);
        try (StateDict diffusers = StateDict.open(folder().resolve("diffusion_pytorch_model.safetensors"));
             PointerScope scope = new PointerScope()) {
            LdmKeyMap.Plan plan = LdmKeyMap.vae(LdmKeyMap.VAELayout.fromDiffusers(diffusers.keys())).toLdm(diffusers.keys(), prefix);
            assertTrue(plan.unmapped().isEmpty(), plan.unmapped().toString());
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            try (StateDict ldm = diffusers.derive(plan.targets(), "ldm")) {
                for (String k : ldm.keys()) tensors.put(k, ldm.view(k).clone());
            }
            tensors.putAll(extra);
            SafetensorsWriter.write(out, tensors, Map.of());
        }
        return out;
    }

    private static void assertSameWeights(AutoencoderKL expected, AutoencoderKL actual, String what) {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> e = ModuleTensors.namedTensors(expected);
            Map<String, Tensor> a = ModuleTensors.namedTensors(actual);
            assertEquals(e.keySet(), a.keySet(), what);
            for (String k : e.keySet()) assertEquals(0.0, Tensors.maxAbsDiff(e.get(k), a.get(k)), what + ": " + k);
        }
    }

    @Test
    void aFolderADiffusersFileAndBothLdmLayoutsLoadTheSameWeights() {
        Map<String, Tensor> junk = new LinkedHashMap<>();
        junk.put("model.diffusion_model.out.2.bias", Tensors.fromFloats(new float[] {1, 2, 3, 4}, 4)); // rest of a checkpoint
        Path prefixed = ldmCopy("checkpoint-vae.safetensors", LdmKeyMap.VAE_PREFIX, junk);
        Map<String, Tensor> loss = new LinkedHashMap<>();
        loss.put("loss.logvar", Tensors.fromFloats(new float[] {0}));                                 // training leftovers
        Path bare = ldmCopy("vae-ft-mse.safetensors", "", loss);

        AutoencoderKL base = AutoencoderKL.load(folder(), ScalarType.Float, Tensors.CPU);
        List<AutoencoderKL> loaded = new ArrayList<>();
        try {
            for (Path p : List.of(folder(), folder().resolve("diffusion_pytorch_model.safetensors"), prefixed, bare)) {
                AutoencoderKL vae = ExternalVAE.load(p, config(), null, ScalarType.Float, Tensors.CPU);
                loaded.add(vae);
                assertSameWeights(base, vae, p.getFileName().toString());
            }
        } finally {
            base.close();
            loaded.forEach(AutoencoderKL::close);
        }
    }

    @Test
    void thePipelineDecodesWithTheSwappedVAEAndRecordsIt() {
        Path bare = ldmCopy("my-vae.safetensors", "", Map.of());
        String model = Golden.model("sd1-tiny-pipeline").toString();
        GenerationRequest r = GenerationRequest.builder("a red circle").steps(2).seed(3).build();
        try (StableDiffusionPipeline own = StableDiffusionPipeline.load(model, PipelineOptions.defaults());
             StableDiffusionPipeline swapped = StableDiffusionPipeline.load(model, PipelineOptions.defaults().withVae(bare));
             PointerScope scope = new PointerScope()) {
            var a = own.generate(r);
            var b = swapped.generate(r);
            assertEquals(0.0, Tensors.maxAbsDiff(Tensors.fromFloats(pixels(a.images().getFirst())),
                    Tensors.fromFloats(pixels(b.images().getFirst()))));
            assertEquals("my-vae.safetensors", b.parameters().getFirst().get("VAE"));
            assertEquals(null, a.parameters().getFirst().get("VAE"));
        }
    }

    private static float[] pixels(java.awt.image.BufferedImage img) {
        float[] out = new float[img.getWidth() * img.getHeight()];
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) out[y * img.getWidth() + x] = img.getRGB(x, y);
        }
        return out;
    }

    @Test
    void aVaeOfAnotherLatentSpaceIsRefusedClearly() throws Exception {
        // a folder whose config says SDXL's scaling factor
        Path xl = Files.createDirectories(dir.resolve("sdxl-vae"));
        Files.writeString(xl.resolve("config.json"), Files.readString(folder().resolve("config.json"))
                .replace("\"scaling_factor\": 0.18215", "\"scaling_factor\": 0.13025"));
        Files.copy(folder().resolve("diffusion_pytorch_model.safetensors"), xl.resolve("diffusion_pytorch_model.safetensors"));
        String m = message(xl);
        assertTrue(m.contains("scaling_factor 0.13025") && m.contains("0.18215"), m);

        Path sixteen = Files.createDirectories(dir.resolve("flux-vae"));
        Files.writeString(sixteen.resolve("config.json"), Files.readString(folder().resolve("config.json"))
                .replace("\"latent_channels\": 4", "\"latent_channels\": 16"));
        m = message(sixteen);
        assertTrue(m.contains("16 latent channels") && m.contains("have 4"), m);

        // a single file whose decoder takes 16-channel latents
        try (PointerScope scope = new PointerScope()) {
            Path f = ldmCopy("wide.safetensors", "", Map.of());
            Map<String, Tensor> all = new LinkedHashMap<>();
            try (StateDict s = StateDict.open(f)) {
                for (String k : s.keys()) all.put(k, s.view(k).clone());
            }
            all.put("decoder.conv_in.weight", torch.zeros(64, 16, 3, 3));
            SafetensorsWriter.write(f, all, Map.of());
            m = message(f);
            assertTrue(m.contains("decodes 16-channel latents"), m);
        }

        m = message(Golden.model("sd1-tiny-pipeline").resolve("unet/diffusion_pytorch_model.safetensors"));
        assertTrue(m.contains("holds no VAE weights"), m);
        m = message(Golden.model("sd1-tiny-pipeline"));
        assertTrue(m.contains("pass its VAE"), m);
        assertTrue(message(dir.resolve("nothing.safetensors")).contains("does not exist"));
    }

    private static String message(Path vae) {
        var e = assertThrows(JDiffusionException.class,
                () -> ExternalVAE.load(vae, config(), null, ScalarType.Float, Tensors.CPU).close());
        System.out.println("error: " + e.getMessage());
        return e.getMessage();
    }
}
