package jdiffusion.models.vae;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.Golden;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.nn.Functional;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** AutoencoderKL against diffusers 0.31 on the vae golden case. */
class AutoencoderKLTest {
    private static final String WEIGHTS = "diffusion_pytorch_model.safetensors";

    /** The dtypes' tolerances for a whole network (see {@link jdiffusion.Tolerances}). */
    static Iterable<Arguments> dtypes() {
        return java.util.List.of(Arguments.of(ScalarType.Float, jdiffusion.Tolerances.FP32_NETWORK),
                Arguments.of(ScalarType.BFloat16, jdiffusion.Tolerances.BF16_NETWORK));
    }

    @Test
    void aDecodeTrimmedBetweenStagesGivesTheSameImage() {
        // 128x128 latents -> 256x256: the stages' outputs are 4-8 MB in float32, so the trims do run
        AutoencoderKL vae = AutoencoderKL.load(Golden.model("sd1-tiny-pipeline/vae"), ScalarType.Float, Tensors.CPU);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor z = new TorchGenerator(3).randn(1, 4, 128, 128);
            Tensor plain = vae.decode(z);
            Tensor trimmed = NativeMemory.trimmingBetweenBlocks(() -> vae.decode(z));
            assertTrue(torch.equal(plain, trimmed));
        }
    }

    @ParameterizedTest
    @MethodSource("dtypes")
    void matchesDiffusers(ScalarType dtype, double rtol) {
        AutoencoderKL vae = AutoencoderKL.load(Golden.model("sd1-tiny-pipeline/vae"), dtype, Tensors.CPU);
        assertEquals(0.18215, vae.scalingFactor());
        try (Golden g = Golden.open("vae"); PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            String tag = " " + dtype;
            DiagonalGaussianDistribution posterior = vae.encode(g.tensor("image"));
            Golden.assertClose("latent_mean" + tag, posterior.mean(), g.tensor("latent_mean"), rtol, 0);
            Golden.assertClose("latent_std" + tag, posterior.std(), g.tensor("latent_std"), rtol, 0);
            Golden.assertClose("latent_logvar" + tag, posterior.logvar(), g.tensor("latent_logvar"), rtol, 0);
            Golden.assertClose("latent_mode" + tag, posterior.mode(), g.tensor("latent_mean"), rtol, 0);
            long seed = seedOf(g.json.get("outputs").get("latent_sample").asText());
            Golden.assertClose("latent_sample" + tag, posterior.sample(new TorchGenerator(seed)),
                    g.tensor("latent_sample"), rtol, 0);
            Golden.assertClose("decoded" + tag, vae.decode(g.tensor("latents")), g.tensor("decoded"), rtol, 0);
            Golden.assertClose("decoded_from_scaled" + tag,
                    vae.decode(Functional.div(g.tensor("latents"), vae.scalingFactor())),
                    g.tensor("decoded_from_scaled"), rtol, 0);
        }
    }

    /** "... manual_seed(201) ..." -> 201. */
    private static long seedOf(String description) {
        Matcher m = Pattern.compile("manual_seed\\((\\d+)\\)").matcher(description);
        if (!m.find()) throw new IllegalStateException("no seed in " + description);
        return Long.parseLong(m.group(1));
    }

    @Test
    void parameterNamesAreTheCheckpointKeys() {
        Path folder = Golden.model("sd1-tiny-pipeline/vae");
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(folder.resolve("config.json")));
        try (SafetensorsFile file = SafetensorsFile.open(folder.resolve(WEIGHTS))) {
            assertEquals(new TreeSet<>(file.names()), new TreeSet<>(ModuleTensors.namedTensors(vae).keySet()));
        }
    }

    @Test
    void encodesAndDecodesOddSizes() {
        // 34x30 pixels: the (0, 1, 0, 1) pad makes the stride-2 convolution halve to 17x15
        AutoencoderKL vae = AutoencoderKL.load(Golden.model("sd1-tiny-pipeline/vae"), ScalarType.Float, Tensors.CPU);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            DiagonalGaussianDistribution posterior = vae.encode(new TorchGenerator(1).rand(1, 3, 34, 30));
            assertEquals("[1, 4, 17, 15]", Tensors.shapeString(posterior.mean()));
            assertEquals("[1, 3, 34, 30]", Tensors.shapeString(vae.decode(posterior.mode())));
        }
    }
}
