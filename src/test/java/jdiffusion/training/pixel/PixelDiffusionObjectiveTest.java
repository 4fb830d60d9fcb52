package jdiffusion.training.pixel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.TrainingConfig;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/** The pixel loss with Min-SNR weighting: each sample's MSE times min(SNR, gamma) / SNR, computed here by hand. */
class PixelDiffusionObjectiveTest {
    @Test
    void minSnrWeighsEachSamplesMseByItsTimestep() {
        var config = new ClassConditionedTraining.Config(Path.of("unused"), 1, 0, 8, 1e-3, Path.of("unused"), 3, 0, 0, false,
                List.of(8, 16, 16), 1, 4, false, TrainingConfig.LrSchedule.CONSTANT, 0, 0, 1, 0);
        var sched = (DDPMScheduler) Schedulers.create("DDPMScheduler",
                SchedulerConfigFile.parse(ClassConditionedTraining.SCHEDULER_JSON), Map.of());
        double gamma = 5;
        try (var net = ClassConditionedTraining.newModel(config, 1, 8, 8); var scope = new PointerScope();
             var noGrad = new NoGradGuard()) {
            TorchGenerator rng = new TorchGenerator(11);
            Tensor clean = rng.rand(4, 1, 8, 8).mul(new org.bytedeco.pytorch.Scalar(2)).sub(new org.bytedeco.pytorch.Scalar(1));
            Tensor noise = rng.randn(4, 1, 8, 8);
            long[] steps = {0, 30, 400, 999};  // SNR far above gamma, above, below, far below
            Tensor t = Tensors.fromLongs(steps, 4);
            Tensor labels = Tensors.fromLongs(new long[] {0, 3, 5, 9}, 4);

            float[] pred = Tensors.toFloats(net.forward(sched.addNoise(clean, noise, t), t, labels));
            float[] eps = Tensors.toFloats(noise);
            float[] ac = sched.alphasCumprod();
            double expected = 0, plain = 0;
            for (int i = 0; i < 4; i++) {
                double mse = 0;
                for (int p = 0; p < 64; p++) mse += Math.pow(pred[i * 64 + p] - eps[i * 64 + p], 2);
                mse /= 64;
                double snr = ac[(int) steps[i]] / (1.0 - ac[(int) steps[i]]);
                expected += Math.min(snr, gamma) / snr * mse / 4;
                plain += mse / 4;
            }
            double weighted = new PixelDiffusionObjective(net, sched, gamma).loss(clean, noise, t, labels).item_double();
            assertEquals(expected, weighted, 1e-5 * expected);
            assertEquals(plain, new PixelDiffusionObjective(net, sched).loss(clean, noise, t, labels).item_double(), 1e-5 * plain);
            assertTrue(weighted < 0.9 * plain, "the low-noise samples are down-weighted: " + weighted + " vs " + plain);
        }
        assertThrows(JDiffusionException.class, () -> new PixelDiffusionObjective(null, sched, -1));
    }
}
