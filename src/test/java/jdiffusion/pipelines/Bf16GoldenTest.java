package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jdiffusion.Golden;
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

/**
 * bf16 compute against diffusers' fp32 images on every golden pipeline case: how far the fast
 * path strays from the exact one, in 8-bit levels (printed), bounded loosely so that a broken bf16
 * path (wrong layout, lost precision in a whole block) fails.
 */
class Bf16GoldenTest {
    private static final Map<String, StableDiffusionPipeline> PIPELINES = new ConcurrentHashMap<>();

    static java.util.stream.Stream<String> cases() throws java.io.IOException {
        return PipelineGoldenTest.cases();
    }

    private static StableDiffusionPipeline pipeline(String folder, String unetFolder) {
        return PIPELINES.computeIfAbsent(folder + "|" + unetFolder, k -> {
            Path root = Golden.model(folder);
            var o = new PipelineOptions(ScalarType.BFloat16, Tensors.CPU, null);
            return new StableDiffusionPipeline(folder, CLIPTokenizer.load(root.resolve("tokenizer")),
                    CLIPTextModel.load(root.resolve("text_encoder"), o.dtype(), o.device()),
                    UNet2DConditionModel.load(Golden.root().resolve(unetFolder), o.dtype(), o.device()),
                    AutoencoderKL.load(root.resolve("vae"), o.dtype(), o.device()),
                    SchedulerConfigFile.read(root.resolve("scheduler/scheduler_config.json")), o);
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void staysCloseToTheFp32Image(String caseName) {
        try (Golden g = Golden.open(caseName)) {
            JsonNode components = g.json.get("components");
            String unet = components.get("unet").asText().split(" ")[0];
            String folder = components.path("model_index").asText("models/sd1-tiny-pipeline/").split("/")[1];
            StableDiffusionPipeline pipe = pipeline(folder, unet);
            try (PointerScope scope = new PointerScope()) {
                GenerationResult r = pipe.generate(PipelineGoldenTest.request(g));
                Tensor diff = PipelineGoldenTest.imagesAsTensor(r).sub(g.tensor("image")).abs().mul(new org.bytedeco.pytorch.Scalar(255));
                double max = diff.max().item_double();
                double mean = diff.mean().item_double();
                System.out.printf(Locale.ROOT, "bf16 vs diffusers fp32, %-32s mean %5.2f, max %5.1f levels of 255%n", caseName, mean, max);
                assertTrue(mean < 4, caseName + ": bf16 image is " + mean + " levels from fp32 on average");
            }
        }
    }
}
