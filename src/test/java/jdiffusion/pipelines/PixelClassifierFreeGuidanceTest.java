package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.models.unet2d.ClassConditionedUnet;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.TrainingConfig;
import jdiffusion.training.pixel.ClassConditionedTraining;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Classifier-free guidance of the class-conditioned pixel net: "no class" is the all-zero class
 * embedding, and the guided noise is uncond + scale * (cond - uncond) of the two halves of one batch.
 */
class PixelClassifierFreeGuidanceTest {
    private static ClassConditionedUnet net(boolean learnsNoClass) {
        var config = new ClassConditionedTraining.Config(Path.of("unused"), 1, 0, 8, 1e-3, Path.of("unused"), 5, 0, 0, false,
                List.of(8, 16, 16), 1, 4, false, TrainingConfig.LrSchedule.CONSTANT, 0, 0, 1, learnsNoClass ? 0.1 : 0);
        return ClassConditionedTraining.newModel(config, 1, 8, 8);
    }

    @Test
    void noClassIsTheAllZeroEmbeddingAndGuidanceCombinesTheTwoPredictions() {
        try (ClassConditionedUnet unet = net(true); var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            assertTrue(unet.learnsNoClass());
            TorchGenerator rng = new TorchGenerator(3);
            Tensor x = rng.randn(3, 1, 8, 8);
            Tensor labels = Tensors.fromLongs(new long[] {2, 7, 9}, 3);
            Tensor none = Tensors.fromLongs(new long[] {PixelDenoiser.NO_CLASS, PixelDenoiser.NO_CLASS, PixelDenoiser.NO_CLASS}, 3);
            // the net's input: the image, then 4 channels of class embedding, zero for "no class"
            Tensor input = unet.netInput(x, Tensors.fromLongs(new long[] {2, PixelDenoiser.NO_CLASS, 9}, 3));
            assertEquals(0.0, Tensors.maxAbsDiff(input.narrow(1, 0, 1), x));
            assertEquals(0.0, input.select(0, 1).narrow(0, 1, 4).abs().max().item_double());
            assertTrue(input.select(0, 0).narrow(0, 1, 4).abs().max().item_double() > 0);

            Tensor t = Tensors.fromLongs(new long[] {500}, 1).reshape();
            Tensor cond = unet.forward(x, t, labels), uncond = unet.forward(x, t, none);
            assertTrue(Tensors.maxAbsDiff(cond, uncond) > 1e-4, "the class changes the prediction");
            Tensor guided = PixelSampling.predictNoise(unet, x, t, labels, 3.0);
            Tensor expected = uncond.add(cond.sub(uncond).mul(new Scalar(3.0)));
            assertTrue(Tensors.maxAbsDiff(guided, expected) < 1e-5, "uncond + 3 (cond - uncond)");
            assertEquals(0.0, Tensors.maxAbsDiff(PixelSampling.predictNoise(unet, x, t, labels, 1.0), cond));
            // per-sample timesteps are doubled with the batch
            Tensor ts = Tensors.fromLongs(new long[] {10, 500, 990}, 3);
            Tensor perSample = PixelSampling.predictNoise(unet, x, ts, labels, 2.0);
            Tensor u = unet.forward(x, ts, none), c = unet.forward(x, ts, labels);
            assertTrue(Tensors.maxAbsDiff(perSample, u.add(c.sub(u).mul(new Scalar(2.0)))) < 1e-5);
        }
    }

    @Test
    void thePipelineGuidesOnlyANetThatLearnedNoClass() {
        var scheduler = (DDIMScheduler) Schedulers.create("DDIMScheduler", SchedulerConfigFile.parse("""
                {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2", "clip_sample": true}"""), Map.of());
        try (ClassConditionedUnet unet = net(true)) {
            DDIMPipeline pipe = new DDIMPipeline(unet, scheduler);
            PixelResult plain = pipe.call(new PixelRequest(2, 3, 0, 4, null, 1.0));
            PixelResult guided = pipe.call(new PixelRequest(2, 3, 0, 4, null, 4.0));
            try (var scope = new PointerScope()) {
                assertEquals(0.0, Tensors.maxAbsDiff(plain.initialNoise(), guided.initialNoise()));
                assertTrue(Tensors.maxAbsDiff(plain.images(), guided.images()) > 1e-4, "guidance changed nothing");
                assertEquals(0.0, Tensors.maxAbsDiff(plain.images(), pipe.call(new PixelRequest(2, 3, 0, 4, null)).images()));
            }
        }
        try (ClassConditionedUnet unet = net(false)) {
            assertFalse(unet.learnsNoClass());
            var e = assertThrows(JDiffusionException.class,
                    () -> new DDIMPipeline(unet, scheduler).call(new PixelRequest(2, 3, 0, 4, null, 4.0)));
            assertTrue(e.getMessage().contains("--class-dropout"), e.getMessage());
        }
        assertThrows(JDiffusionException.class, () -> new PixelRequest(1, 1, 0, 1, null, -1));
        assertThrows(JDiffusionException.class, () -> new PixelRequest(1, 1, 0, 1, null, Double.NaN));
    }
}
