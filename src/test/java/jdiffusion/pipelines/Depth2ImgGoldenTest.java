package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** diffusers' StableDiffusionDepth2ImgPipeline, with a given depth map and with the DPT's estimate. */
class Depth2ImgGoldenTest {
    private static StableDiffusionDepth2ImgPipeline pipe;

    /** The case's components: the 5-channel UNet, the tiny VAE, the gelu text encoder, the SD2 tokenizer, the tiny DPT. */
    static synchronized StableDiffusionDepth2ImgPipeline pipeline() {
        if (pipe == null) {
            var o = PipelineOptions.defaults();
            Path dpt = Golden.model("dpt-hybrid-tiny");
            var components = new StableDiffusionComponents("sd2-depth-tiny",
                    CLIPTokenizer.load(Golden.shared().resolve("clip-tokenizer/sd2")),
                    CLIPTextModel.load(Golden.model("text-encoder-gelu"), o.dtype(), o.device()),
                    UNet2DConditionModel.load(Golden.model("unet-sd2-depth"), o.dtype(), o.device()),
                    AutoencoderKL.load(Golden.model("sd1-tiny-pipeline").resolve("vae"), o.dtype(), o.device()),
                    SchedulerConfigFile.read(Golden.model("sd1-tiny-pipeline").resolve("scheduler/scheduler_config.json")), o);
            pipe = new StableDiffusionDepth2ImgPipeline(components, DepthEstimation.load(dpt, null, o));
        }
        return pipe;
    }

    @AfterAll
    static void close() {
        if (pipe != null) pipe.close();
    }

    static GenerationRequest request(Golden g) {
        JsonNode kw = g.json.get("call_kwargs");
        return GenerationRequest.builder(kw.get("prompt").asText()).negativePrompt(kw.get("negative_prompt").asText())
                .steps(kw.get("num_inference_steps").asInt()).guidanceScale(kw.get("guidance_scale").asDouble())
                .strength(kw.get("strength").asDouble()).sampler(g.json.get("scheduler_class").asText())
                .seed(g.json.get("generator_seed").asLong()).initImage(Images.read(g.dir.resolve("init_image.png"))).build();
    }

    @Test
    void givenDepthMapMatchesDiffusers() {
        StableDiffusionDepth2ImgPipeline pipe = pipeline(); // models are built outside any scope
        try (Golden g = Golden.open("pipe_depth2img_given_depth"); PointerScope scope = new PointerScope()) {
            Tensor given = g.tensor("depth_map_input"); // [1, H, W]
            DepthMap depth = new DepthMap((int) given.size(1), (int) given.size(2), Tensors.toFloats(given));
            Tensor resized = StableDiffusionDepth2ImgPipeline.normalisedDepth(depth.tensor(), 16, 24, 1);
            Golden.assertClose("depth fed to the UNet", resized, g.tensor("depth_fed_to_unet").narrow(0, 0, 1), 1e-5, 1e-6);
            check("given depth", g, pipe.generate(new DepthToImageRequest(request(g), depth)));
        }
    }

    @Test
    void estimatedDepthMatchesDiffusers() {
        StableDiffusionDepth2ImgPipeline pipe = pipeline();
        try (Golden g = Golden.open("pipe_depth2img_estimated_depth"); PointerScope scope = new PointerScope()) {
            GenerationRequest r = request(g);
            Golden.assertClose("predicted_depth", pipe.estimateDepth(r.initImage()), g.tensor("predicted_depth"), 1e-4, 1e-5);
            check("estimated depth", g, pipe.generate(new DepthToImageRequest(r, null)));
        }
    }

    private static void check(String what, Golden g, GenerationResult r) {
        Golden.assertClose(what + " initial_latents", r.initialLatents(), g.tensor("initial_latents"), 1e-4, 1e-5);
        Golden.assertClose(what + " final_latents", r.finalLatents(), g.tensor("final_latents"), 1e-4, 1e-5);
        // 8-bit images: half a level of rounding on top of the float tolerance
        Golden.assertClose(what + " image", PipelineGoldenTest.imagesAsTensor(r), g.tensor("image"), 1e-4, 0.5 / 255 + 1e-5);
        assertTrue(r.parameters().getFirst().format().contains("Denoising strength: 0.7"));
    }

    @Test
    void badDepthMapsAreRefusedWithTheOption() {
        var e = assertThrows(JDiffusionException.class, () -> new DepthMap(4, 4, new float[16]));
        assertTrue(e.getMessage().startsWith("--depth-map is constant"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> new DepthMap(1, 4, new float[] {0, 1, 2, 3}));
        assertTrue(e.getMessage().startsWith("--depth-map must be"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> new DepthMap(2, 2, new float[] {0, 1, Float.NaN, 3}));
        assertTrue(e.getMessage().contains("finite"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> new DepthToImageRequest(GenerationRequest.builder("x").build(), null));
        assertEquals("depth2img needs --init-image: it redraws an image", e.getMessage());
    }
}
