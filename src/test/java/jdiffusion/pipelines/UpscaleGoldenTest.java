package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.tensor.Tensors;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.training.PipelineWriter;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** diffusers' StableDiffusionUpscalePipeline on the tiny x4 upscaler (class labels, only-cross-attention blocks). */
class UpscaleGoldenTest {
    private static StableDiffusionUpscalePipeline pipe;

    static synchronized StableDiffusionUpscalePipeline pipeline() {
        if (pipe == null) {
            var o = PipelineOptions.defaults();
            Path root = Golden.model("sd-x4-upscaler-tiny");
            var components = new StableDiffusionComponents("sd-x4-upscaler-tiny",
                    CLIPTokenizer.load(Golden.shared().resolve("clip-tokenizer/sd2")),
                    CLIPTextModel.load(Golden.model("text-encoder-gelu"), o.dtype(), o.device()),
                    UNet2DConditionModel.load(root.resolve("unet"), o.dtype(), o.device()),
                    AutoencoderKL.load(root.resolve("vae"), o.dtype(), o.device()),
                    SchedulerConfigFile.read(root.resolve("scheduler/scheduler_config.json")), o);
            pipe = new StableDiffusionUpscalePipeline(components,
                    SchedulerConfigFile.read(root.resolve("low_res_scheduler/scheduler_config.json")), 350);
        }
        return pipe;
    }

    @AfterAll
    static void close() {
        if (pipe != null) pipe.close();
    }

    @Test
    void matchesDiffusers() {
        StableDiffusionUpscalePipeline p = pipeline(); // models are built outside any scope
        try (Golden g = Golden.open("pipe_upscale_x4"); PointerScope scope = new PointerScope()) {
            JsonNode kw = g.json.get("call_kwargs");
            GenerationRequest r = UpscaleRequest.defaults(kw.get("prompt").asText()).negativePrompt(kw.get("negative_prompt").asText())
                    .steps(kw.get("num_inference_steps").asInt()).guidanceScale(kw.get("guidance_scale").asDouble())
                    .seed(g.json.get("generator_seed").asLong()).initImage(Images.read(g.dir.resolve("low_res.png"))).build();
            GenerationResult result = p.generate(new UpscaleRequest(r, kw.get("noise_level").asInt()));
            Golden.assertClose("initial_latents", result.initialLatents(), g.tensor("initial_latents"), 1e-4, 1e-5);
            Golden.assertClose("final_latents", result.finalLatents(), g.tensor("final_latents"), 1e-4, 1e-5);
            Golden.assertClose("image", PipelineGoldenTest.imagesAsTensor(result), g.tensor("image"), 1e-4, 0.5 / 255 + 1e-5);
            assertEquals(96, result.images().getFirst().getWidth()); // 4x the 24x16 input
            assertTrue(result.parameters().getFirst().format().contains("Noise level: 20"));
        }
    }

    @Test
    void deepCacheRunsOnTheUpscalersUNetWithItsClassLabels() {
        StableDiffusionUpscalePipeline p = pipeline();
        try (Golden g = Golden.open("pipe_upscale_x4"); PointerScope scope = new PointerScope()) {
            var b = UpscaleRequest.defaults("a cat").steps(6).seed(1).initImage(Images.read(g.dir.resolve("low_res.png")));
            GenerationResult plain = p.generate(new UpscaleRequest(b.build(), 20));
            GenerationResult everyStep = p.generate(new UpscaleRequest(b.deepCache(1).build(), 20));
            Golden.assertClose("DeepCache 1", everyStep.finalLatents(), plain.finalLatents(), 0, 0);
            GenerationResult cached = p.generate(new UpscaleRequest(b.deepCache(3).build(), 20));
            assertTrue(Tensors.maxAbs(cached.finalLatents().sub(plain.finalLatents())) > 0, "DeepCache 3 changed nothing");
            assertTrue(cached.parameters().getFirst().format().contains("DeepCache: 3"));
        }
    }

    @Test
    void theUpscalersUNetIsSavedWithItsClassEmbeddingAndOnlyCrossAttention(@TempDir Path dir) {
        var unet = pipeline().components().unet();
        PipelineWriter.writeUNet(dir, unet, org.bytedeco.pytorch.global.torch.ScalarType.Float);
        UNet2DConditionConfig again = UNet2DConditionConfig.fromJson(dir.resolve("config.json"));
        assertEquals(unet.config(), again);
        assertEquals(1000, again.numClassEmbeds());
        assertEquals(java.util.List.of(true, true, false), again.onlyCrossAttention());
    }

    @Test
    void aNoiseLevelAboveTheModelsMaximumIsRefused() {
        StableDiffusionUpscalePipeline p = pipeline();
        var r = UpscaleRequest.defaults("x").initImage(new java.awt.image.BufferedImage(16, 16, java.awt.image.BufferedImage.TYPE_INT_RGB)).build();
        var e = assertThrows(JDiffusionException.class, () -> p.generate(new UpscaleRequest(r, 351)));
        assertEquals("--noise-level must be between 0 and 350 (the model's max_noise_level), not 351", e.getMessage());
    }
}
