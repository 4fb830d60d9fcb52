package jdiffusion.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import jdiffusion.Golden;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.tools.shapes.TinyShapesRecipe;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gradient checkpointing computes the loss and the gradients of an ordinary backward: every
 * parameter of the UNet (and of a text encoder trained with it), at sizes that are not a multiple
 * of the down factor, scaled, inside a Trainer run, and under bf16 autocast.
 */
class GradientCheckpointingTest {
    static final double RTOL = 1e-5;
    static DDPMScheduler ddpm;

    @BeforeAll
    static void scheduler(@TempDir Path dir) throws Exception {
        Path sched = dir.resolve("scheduler_config.json");
        Files.writeString(sched, TinyShapesRecipe.schedulerConfig().toString());
        ddpm = (DDPMScheduler) Schedulers.create("DDPMScheduler", SchedulerConfigFile.read(sched), Map.of());
    }

    /** A seeded UNet + text encoder (the same weights every call), built outside any scope. */
    record Models(UNet2DConditionModel unet, CLIPTextModel text) implements AutoCloseable {
        static Models create(UNet2DConditionConfig config) {
            torch.manual_seed(11);
            return new Models(new UNet2DConditionModel(config), new CLIPTextModel(TinyModels.text()));
        }

        Map<String, Tensor> unetParameters() {
            Map<String, Tensor> p = ModuleTensors.parameters(unet, "unet.");
            p.values().forEach(t -> t.requires_grad_(true));
            return p;
        }

        Map<String, Tensor> allParameters() {
            Map<String, Tensor> p = new LinkedHashMap<>(unetParameters());
            p.putAll(ModuleTensors.parameters(text, "text_encoder."));
            p.values().forEach(t -> t.requires_grad_(true));
            return p;
        }

        @Override
        public void close() {
            unet.close();
            text.close();
        }
    }

    /** Sample, timesteps, a context and a target for one batch. */
    record Batch(Tensor sample, Tensor timesteps, Tensor context, Tensor inputIds, Tensor target) {
        static Batch random(long batch, long height, long width, long seed) {
            TorchGenerator g = new TorchGenerator(seed);
            Tensor sample = g.randn(batch, 4, height, width);
            Tensor timesteps = g.randint(0, 1000, batch);
            Tensor context = g.randn(batch, 77, 32);
            Tensor ids = g.randint(1, 600, batch * 77).reshape(batch, 77);
            Tensor target = g.randn(batch, 4, height, width);
            return new Batch(sample, timesteps, context, ids, target);
        }

        Function<Tensor, Tensor> lossOf() {
            return out -> torch.mse_loss(out.to(ScalarType.Float), target);
        }
    }

    /** Clones of the parameters' gradients (then zeroed), by name. */
    static Map<String, Tensor> takeGrads(Map<String, Tensor> params) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (NoGradGuard noGrad = new NoGradGuard()) {
            params.forEach((k, p) -> {
                Tensor g = p.grad();
                assertTrue(g.defined(), k + " got no gradient");
                out.put(k, g.clone());
                g.zero_();
            });
        }
        return out;
    }

    /**
     * Every gradient within {@code rtol} of {@code scale} x the expected one, relative to its own
     * largest entry or to a hundredth of the largest of all, whichever is larger: gradients that
     * are zero in exact arithmetic (attention key biases, which softmax ignores; biases right before
     * a GroupNorm of one channel per group) are rounding noise of terms of the ordinary size. A
     * wrong gradient is off by its own size, far above that floor (rtol x 1e-2 x the largest).
     */
    static void assertGradsClose(Map<String, Tensor> expected, Map<String, Tensor> actual, double scale, double rtol) {
        assertEquals(expected.keySet(), actual.keySet());
        double global = expected.values().stream().mapToDouble(Tensors::maxAbs).max().orElse(0) * Math.abs(scale);
        assertTrue(global > 0, "all gradients are zero: that proves nothing");
        double worst = 0;
        int small = 0;
        for (String k : expected.keySet()) {
            Tensor e = expected.get(k).mul(new Scalar(scale));
            double diff = Tensors.maxAbsDiff(actual.get(k), e);
            double ref = Math.max(Tensors.maxAbs(e), 1e-2 * global);
            if (ref > Tensors.maxAbs(e)) small++;
            worst = Math.max(worst, diff / ref);
            assertTrue(diff <= rtol * ref, String.format("%s: max|diff| %.3e > %.1e * max|grad| %.3e", k, diff, rtol, ref));
        }
        System.out.printf("%d gradients (%d near zero), worst max|diff|/max|grad| = %.3e%n", expected.size(), small, worst);
    }

    /** The ordinary path: loss.backward() through the whole graph; returns the loss. */
    /** The loss and every gradient of a checkpointed backward equal those of a plain one on {@code b}. */
    static void assertMatchesPlainBackward(UNet2DConditionModel unet, Map<String, Tensor> params, Batch b) {
        double expected = plain(unet, b, b.context());
        Map<String, Tensor> grads = takeGrads(params);
        double actual = GradientCheckpointing.forwardBackward(unet, b.sample(), b.timesteps(), b.context(),
                b.lossOf(), 1.0);
        assertEquals(expected, actual, RTOL * expected, "loss");
        assertGradsClose(grads, takeGrads(params), 1.0, RTOL);
    }

    static double plain(UNet2DConditionModel unet, Batch b, Tensor context) {
        Tensor loss = b.lossOf().apply(unet.forward(b.sample(), b.timesteps(), context));
        loss.backward();
        return loss.item_double();
    }

    @Test
    void lossAndEveryUNetGradientEqualAnOrdinaryBackward() {
        try (Models m = Models.create(TinyModels.unet())) {
            Map<String, Tensor> params = m.unetParameters();
            try (PointerScope scope = new PointerScope()) {
                Batch b = Batch.random(2, 8, 8, 1);
                assertMatchesPlainBackward(m.unet(), params, b);
            }
        }
    }

    @Test
    void theGoldenTinyUNetMatchesToo() {
        Path folder = Golden.model("sd1-tiny-pipeline").resolve("unet");
        UNet2DConditionModel unet = UNet2DConditionModel.load(folder, ScalarType.Float, Tensors.CPU);
        try {
            Map<String, Tensor> params = ModuleTensors.parameters(unet, "");
            params.values().forEach(t -> t.requires_grad_(true));
            try (PointerScope scope = new PointerScope()) {
                long width = unet.config().crossAttentionDim().getFirst();
                TorchGenerator g = new TorchGenerator(5);
                Tensor sample = g.randn(1, 4, 16, 16);
                Tensor target = g.randn(1, 4, 16, 16);
                Tensor context = g.randn(1, 77, width);
                Tensor t = Tensors.fromLongs(new long[] {321});
                Function<Tensor, Tensor> lossOf = out -> torch.mse_loss(out, target);
                Tensor loss = lossOf.apply(unet.forward(sample, t, context));
                loss.backward();
                Map<String, Tensor> grads = takeGrads(params);
                double actual = GradientCheckpointing.forwardBackward(unet, sample, t, context, lossOf, 1.0);
                assertEquals(loss.item_double(), actual, RTOL * loss.item_double(), "loss");
                assertGradsClose(grads, takeGrads(params), 1.0, RTOL);
            }
        } finally {
            unet.close();
        }
    }

    @Test
    void aTextEncoderTrainedAlongGetsItsGradientsAndGradScaleScalesThem() {
        try (Models m = Models.create(TinyModels.unet())) {
            Map<String, Tensor> params = m.allParameters();
            try (PointerScope scope = new PointerScope()) {
                Batch b = Batch.random(2, 8, 8, 2);
                double expected = plain(m.unet(), b, m.text().encodeForTraining(b.inputIds()));
                Map<String, Tensor> grads = takeGrads(params);

                double actual = GradientCheckpointing.forwardBackward(m.unet(), b.sample(), b.timesteps(),
                        m.text().encodeForTraining(b.inputIds()), b.lossOf(), 1.0);
                assertEquals(expected, actual, RTOL * expected, "loss");
                assertGradsClose(grads, takeGrads(params), 1.0, RTOL);

                double scaled = GradientCheckpointing.forwardBackward(m.unet(), b.sample(), b.timesteps(),
                        m.text().encodeForTraining(b.inputIds()), b.lossOf(), 0.25);
                assertEquals(expected, scaled, RTOL * expected, "the loss value is not scaled");
                assertGradsClose(grads, takeGrads(params), 0.25, RTOL);
            }
        }
    }

    @Test
    void aSampleSizeNotAMultipleOfTheDownFactorMatches() {
        // three blocks (factor 4): 7x10 latents downsample to 4x5 then 2x3; the skips decide the upsampled sizes
        UNet2DConditionConfig c = TinyModels.unet();
        UNet2DConditionConfig three = new UNet2DConditionConfig(8, 4, 4, false, true, 0,
                java.util.List.of(UNet2DConditionConfig.CROSS_ATTN_DOWN, UNet2DConditionConfig.DOWN, UNet2DConditionConfig.DOWN),
                UNet2DConditionConfig.MID_CROSS_ATTN,
                java.util.List.of(UNet2DConditionConfig.UP, UNet2DConditionConfig.UP, UNet2DConditionConfig.CROSS_ATTN_UP),
                java.util.List.of(16, 16, 32), java.util.List.of(1, 1, 1), 1, 1.0, 0.0, "silu", 8, 1e-5,
                java.util.List.of(32, 32, 32), java.util.List.of(1, 1, 1), java.util.List.of(2, 2, 2), false, false,
                1.0, 3, 3, null);
        assertEquals(c.crossAttentionDim().getFirst(), three.crossAttentionDim().getFirst());
        try (Models m = Models.create(three)) {
            Map<String, Tensor> params = m.unetParameters();
            try (PointerScope scope = new PointerScope()) {
                Batch b = Batch.random(1, 7, 10, 3);
                assertMatchesPlainBackward(m.unet(), params, b);
            }
        }
    }

    /** LatentDiffusionObjective's loss, the UNet part checkpointed: the same draws in the same order. */
    static Trainer.BackwardObjective checkpointed(Models m, Tensor latents, Tensor inputIds) {
        return (step, micro, rng, gradScale) -> {
            Tensor noise = rng.randn(latents.sizes().vec().get());
            Tensor timesteps = rng.randint(0, ddpm.config().numTrainTimesteps(), latents.size(0));
            Tensor noisy = ddpm.addNoise(latents, noise, timesteps);
            Tensor context = m.text().encodeForTraining(inputIds);
            return GradientCheckpointing.forwardBackward(m.unet(), noisy, timesteps, context,
                    out -> torch.mse_loss(out.to(ScalarType.Float), noise), gradScale);
        };
    }

    static Trainer.Objective ordinary(Models m, Tensor latents, Tensor inputIds) {
        var o = new LatentDiffusionObjective(m.unet(), m.text(), true, ddpm, PredictionType.EPSILON);
        return (step, micro, rng) -> o.loss(latents, inputIds, rng);
    }

    static double[] trainBoth(boolean bf16, int steps) {
        Tensor latents = new TorchGenerator(3).randn(2, 4, 8, 8).tanh();
        Tensor inputIds = new TorchGenerator(4).randint(1, 600, 2 * 77).reshape(2, 77);
        // accumulation 2, clipping and EMA on: every path of the Trainer step
        TrainingConfig config = new TrainingConfig(steps, 3e-3, 1, TrainingConfig.LrSchedule.COSINE, 2, 1.0, 1e-2, 0.9,
                bf16, 5, 0);
        double plainLoss;
        try (Models m = Models.create(TinyModels.unet()); Trainer t = new Trainer(config, m.allParameters(), null)) {
            plainLoss = t.run(ordinary(m, latents, inputIds), Trainer.Listener.NONE);
        }
        double checkpointedLoss;
        try (Models m = Models.create(TinyModels.unet()); Trainer t = new Trainer(config, m.allParameters(), null)) {
            checkpointedLoss = t.run(checkpointed(m, latents, inputIds), Trainer.Listener.NONE);
        }
        System.out.printf("%s after %d steps: plain %.8f, checkpointed %.8f%n", bf16 ? "bf16" : "fp32", steps,
                plainLoss, checkpointedLoss);
        return new double[] {plainLoss, checkpointedLoss};
    }

    @Test
    void aTrainerRunReachesTheSameLossAsWithThePlainObjective() {
        double[] l = trainBoth(false, 4);
        assertEquals(l[0], l[1], 1e-5 * l[0]);
    }

    @Test
    void underBf16AutocastItRunsAndIsClose() {
        // one step's gradients, both paths under the same autocast
        try (Models m = Models.create(TinyModels.unet())) {
            Map<String, Tensor> params = m.allParameters();
            try (PointerScope scope = new PointerScope()) {
                Batch b = Batch.random(2, 8, 8, 6);
                torch.set_autocast_enabled(DeviceType.CPU, true);
                torch.set_autocast_dtype(DeviceType.CPU, ScalarType.BFloat16);
                torch.set_autocast_cache_enabled(false);
                double expected;
                double actual;
                Map<String, Tensor> grads;
                try {
                    Tensor loss = b.lossOf().apply(m.unet().forward(b.sample(), b.timesteps(),
                            m.text().encodeForTraining(b.inputIds())));
                    torch.set_autocast_enabled(DeviceType.CPU, false);
                    loss.backward();
                    expected = loss.item_double();
                    grads = takeGrads(params);
                    torch.set_autocast_enabled(DeviceType.CPU, true);
                    actual = GradientCheckpointing.forwardBackward(m.unet(), b.sample(), b.timesteps(),
                            m.text().encodeForTraining(b.inputIds()), b.lossOf(), 1.0);
                    assertTrue(torch.is_autocast_enabled(DeviceType.CPU), "autocast is restored after the backward passes");
                } finally {
                    torch.set_autocast_enabled(DeviceType.CPU, false);
                }
                assertEquals(expected, actual, 1e-3 * expected, "bf16 loss");
                // Both gradients are bf16 computations of the same graph that round in other places and orders.
                // Each activation and gradient on the path is rounded to bf16 (relative eps_bf16/2 = 2^-8 each);
                // through the tiny UNet and back that is ~30 roundings in sequence, which add in quadrature to
                // about sqrt(30) * 2^-8 = 0.021 per path and sqrt(2) times that between two paths (0.03). We allow
                // twice that, 8 eps_bf16 = 0.0625: a wrong kernel or a lost gradient is off by O(1) or NaN.
                Map<String, Tensor> got = takeGrads(params);
                double num = 0, den = 0;
                for (String k : grads.keySet()) {
                    num += got.get(k).sub(grads.get(k)).square().sum().item_double();
                    den += grads.get(k).square().sum().item_double();
                }
                double rel = Math.sqrt(num / den);
                System.out.printf("bf16: loss %.6f vs %.6f, |grad diff| / |grad| = %.3e%n", expected, actual, rel);
                assertTrue(den > 0 && rel <= 8 * Math.pow(2, -7), "relative gradient difference " + rel);
            }
        }
        double[] l = trainBoth(true, 3);
        assertEquals(l[0], l[1], 2e-2 * l[0], "bf16 Trainer runs");
    }

    @Test
    void refusesToRunWithoutGradients() {
        try (Models m = Models.create(TinyModels.unet()); PointerScope scope = new PointerScope();
             NoGradGuard noGrad = new NoGradGuard()) {
            Batch b = Batch.random(1, 8, 8, 7);
            assertThrows(IllegalStateException.class, () -> GradientCheckpointing.forwardBackward(m.unet(), b.sample(),
                    b.timesteps(), b.context(), b.lossOf(), 1.0));
        }
    }
}
