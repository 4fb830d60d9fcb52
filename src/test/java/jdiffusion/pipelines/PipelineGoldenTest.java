package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import jdiffusion.Golden;
import jdiffusion.image.Images;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every whole-pipeline golden case: initial latents, final latents and image as diffusers made them. */
class PipelineGoldenTest {
    private static final Map<String, StableDiffusionPipeline> PIPELINES = new ConcurrentHashMap<>();

    static Stream<String> cases() throws IOException {
        try (Stream<Path> s = Files.list(Golden.root())) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("pipe_"))
                    .filter(n -> !n.startsWith("pipe_ddpm_uncond") && !n.startsWith("pipe_ddim_uncond")) // pixel space: PixelPipelinesTest
                    .sorted().toList().stream();
        }
    }

    /** The golden pipeline folders, with the 9-channel UNet swapped in for the inpainting case. */
    static StableDiffusionPipeline pipeline(String folder, String unetFolder) {
        return PIPELINES.computeIfAbsent(folder + "|" + unetFolder, k -> {
            Path root = Golden.model(folder);
            var o = PipelineOptions.defaults();
            return new StableDiffusionPipeline(folder, CLIPTokenizer.load(root.resolve("tokenizer")),
                    CLIPTextModel.load(root.resolve("text_encoder"), o.dtype(), o.device()),
                    UNet2DConditionModel.load(Golden.root().resolve(unetFolder), o.dtype(), o.device()),
                    AutoencoderKL.load(root.resolve("vae"), o.dtype(), o.device()),
                    SchedulerConfigFile.read(root.resolve("scheduler/scheduler_config.json")), o);
        });
    }

    /** The request the case's call_kwargs describe. */
    static GenerationRequest request(Golden g) {
        JsonNode kw = g.json.get("call_kwargs");
        String sampler = g.json.path("a1111_sampler_name").isTextual() ? g.json.get("a1111_sampler_name").asText()
                : g.json.get("scheduler_class").asText();
        var b = GenerationRequest.builder(kw.get("prompt").asText())
                .negativePrompt(kw.path("negative_prompt").asText(""))
                .steps(kw.get("num_inference_steps").asInt())
                .guidanceScale(kw.get("guidance_scale").asDouble())
                .sampler(sampler)
                .numImages(kw.path("num_images_per_prompt").asInt(1))
                .eta(kw.path("eta").asDouble(0))
                .clipSkip(kw.path("clip_skip").asInt(0))
                .seed(0);
        if (kw.has("width")) b.size(kw.get("width").asInt(), kw.get("height").asInt());
        if (Files.exists(g.dir.resolve("init_image.png"))) {
            b.initImage(Images.read(g.dir.resolve("init_image.png"))).strength(kw.path("strength").asDouble(1.0));
        }
        if (Files.exists(g.dir.resolve("mask.png"))) b.mask(Images.read(g.dir.resolve("mask.png")));
        return b.build();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesDiffusers(String caseName) {
        try (Golden g = Golden.open(caseName)) {
            JsonNode components = g.json.get("components");
            String unet = components.get("unet").asText().split(" ")[0];
            String folder = components.path("model_index").asText("models/sd1-tiny-pipeline/").split("/")[1];
            StableDiffusionPipeline pipe = pipeline(folder, unet); // models are built outside any scope
            try (PointerScope scope = new PointerScope()) {
                check(caseName, g, pipe.generate(request(g)));
            }
        }
    }

    private static void check(String caseName, Golden g, GenerationResult r) {
        {

            if (!g.has("init_image_latents") && g.has("initial_noise") && !g.dir.resolve("init_image.png").toFile().exists()) {
                // the seed's noise is bit-exact; the scaling by init_noise_sigma may differ by an ulp
                Tensor noise = new jdiffusion.tensor.TorchGenerator(0).randn(Tensors.shape(g.tensor("initial_noise")));
                Golden.assertClose(caseName + " initial_noise", noise, g.tensor("initial_noise"), 0, 0);
            }
            Golden.assertClose(caseName + " initial_latents", r.initialLatents(), g.tensor("initial_latents"), 1e-6, 1e-6);
            if (g.has("final_latents")) {
                Golden.assertClose(caseName + " final_latents", r.finalLatents(), g.tensor("final_latents"), 1e-4, 1e-5);
            }
            Tensor image = g.tensor("image"); // [B, H, W, 3] in [0, 1]
            Tensor ours = imagesAsTensor(r);
            // our images are 8-bit: allow half a level of rounding on top of the float tolerance
            Golden.assertClose(caseName + " image", ours, image, 1e-4, 0.5 / 255 + 1e-5);
            assertEquals(image.size(0), r.images().size());
            assertTrue(r.parameters().getFirst().format().contains("Seed: 0"));
        }
    }

    /** The 8-bit images as a [B, H, W, 3] float tensor in [0, 1], as diffusers' output_type='np'. */
    static Tensor imagesAsTensor(GenerationResult r) {
        int b = r.images().size();
        int h = r.images().getFirst().getHeight();
        int w = r.images().getFirst().getWidth();
        float[] v = new float[b * h * w * 3];
        int i = 0;
        for (var img : r.images()) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y);
                    v[i++] = ((rgb >> 16) & 0xff) / 255f;
                    v[i++] = ((rgb >> 8) & 0xff) / 255f;
                    v[i++] = (rgb & 0xff) / 255f;
                }
            }
        }
        return Tensors.fromFloats(v, b, h, w, 3).to(ScalarType.Float);
    }
}
