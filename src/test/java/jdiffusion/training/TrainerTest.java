package jdiffusion.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.tools.shapes.TinyShapesRecipe;
import jdiffusion.tools.shapes.TinyVocabulary;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shared training loop on a very small UNet + text encoder and a fixed batch of latents. */
class TrainerTest {
    static Tensor latents;   // [4, 4, 8, 8]: a fixed "dataset"
    static Tensor inputIds;  // [4, 77]
    static DDPMScheduler ddpm;

    @BeforeAll
    static void data(@TempDir Path dir) throws Exception {
        TinyVocabulary.build().write(dir.resolve("tokenizer"));
        CLIPTokenizer tok = CLIPTokenizer.load(dir.resolve("tokenizer"));
        String[] captions = {"a red circle on a blue background", "a small green square", "a yellow triangle",
                "a big white cross on black"};
        long[] ids = new long[4 * 77];
        for (int i = 0; i < 4; i++) {
            int[] row = tok.encodePadded(captions[i]);
            for (int j = 0; j < 77; j++) ids[i * 77 + j] = row[j];
        }
        inputIds = Tensors.fromLongs(ids, 4, 77);
        latents = new TorchGenerator(3).randn(4, 4, 8, 8).tanh();
        Path sched = dir.resolve("scheduler_config.json");
        Files.writeString(sched, TinyShapesRecipe.schedulerConfig().toString());
        ddpm = (DDPMScheduler) Schedulers.create("DDPMScheduler", SchedulerConfigFile.read(sched), Map.of());
    }

    /** Fresh, seeded models: the same initial weights every call. */
    record Models(UNet2DConditionModel unet, CLIPTextModel text) implements AutoCloseable {
        static Models create() {
            torch.manual_seed(11);
            return new Models(new UNet2DConditionModel(TinyModels.unet()), new CLIPTextModel(TinyModels.text()));
        }

        Map<String, Tensor> parameters() {
            Map<String, Tensor> p = new LinkedHashMap<>(ModuleTensors.parameters(unet, "unet."));
            p.putAll(ModuleTensors.parameters(text, "text_encoder."));
            return p;
        }

        Trainer.Objective objective() {
            var o = new LatentDiffusionObjective(unet, text, true, ddpm, PredictionType.EPSILON);
            return (step, micro, rng) -> o.loss(latents, inputIds, rng);
        }

        @Override
        public void close() {
            unet.close();
            text.close();
        }
    }

    static TrainingConfig config(int steps) {
        return new TrainingConfig(steps, 3e-3, 2, TrainingConfig.LrSchedule.COSINE, 2, 1.0, 1e-2, 0.9, false, 5, 0);
    }

    @Test
    void aFewStepsOnASmallBatchLowerTheLoss() {
        try (Models m = Models.create()) {
            // the same noise and timesteps at every step, so that the losses compare
            var o = new LatentDiffusionObjective(m.unet(), m.text(), true, ddpm, PredictionType.EPSILON);
            Trainer.Objective fixed = (step, micro, rng) -> o.loss(latents, inputIds, new TorchGenerator(42));
            double[] first = {Double.NaN};
            TrainingConfig c = new TrainingConfig(25, 3e-3, 0, TrainingConfig.LrSchedule.CONSTANT, 1, 1.0, 0, 0, false, 0, 0);
            try (Trainer trainer = new Trainer(c, m.parameters(), null)) {
                double last = trainer.run(fixed, (step, total, loss, lr) -> {
                    if (step == 0) first[0] = loss;
                });
                assertTrue(last < 0.7 * first[0], "loss " + first[0] + " -> " + last);
            }
        }
    }

    @Test
    void aResumedRunReachesTheSameLossAsAnUninterruptedOne(@TempDir Path dir) {
        double straight;
        try (Models m = Models.create(); Trainer t = new Trainer(config(6), m.parameters(), dir.resolve("a.safetensors"))) {
            straight = t.run(m.objective(), Trainer.Listener.NONE);
        }
        Path ckpt = dir.resolve("b.safetensors");
        try (Models m = Models.create(); Trainer t = new Trainer(config(6), m.parameters(), ckpt)) {
            t.runUntil(3, m.objective(), Trainer.Listener.NONE);
            t.save();
        }
        double resumed;
        try (Models m = Models.create(); Trainer t = new Trainer(config(6), m.parameters(), ckpt)) {
            assertTrue(t.resume());
            assertEquals(3, t.stepsDone());
            resumed = t.run(m.objective(), Trainer.Listener.NONE);
        }
        assertEquals(straight, resumed, 1e-6 * Math.abs(straight), "final loss, uninterrupted vs resumed at step 3");
    }

    @Test
    void warmUpThenCosine() {
        TrainingConfig c = new TrainingConfig(10, 1.0, 2, TrainingConfig.LrSchedule.COSINE, 1, 0, 0, 0, false, 0, 0);
        assertEquals(0.5, c.learningRate(0), 1e-12);
        assertEquals(1.0, c.learningRate(1), 1e-12);
        assertEquals(1.0, c.learningRate(2), 1e-12);
        assertEquals(0.5, c.learningRate(6), 1e-12);
        assertTrue(c.learningRate(9) < 0.05);
    }

    @Test
    void minSnrWeightsFollowTheFormula() {
        float[] ac = ddpm.alphasCumprod();
        Tensor t = Tensors.fromLongs(new long[] {0, 500, 999}, 3);
        var eps = new LatentDiffusionObjective(null, null, false, ddpm, PredictionType.EPSILON)
                .withSnrGamma(5);
        var v = new LatentDiffusionObjective(null, null, false, ddpm, PredictionType.V_PREDICTION)
                .withSnrGamma(5);
        float[] we = Tensors.toFloats(eps.snrWeights(t));
        float[] wv = Tensors.toFloats(v.snrWeights(t));
        int[] steps = {0, 500, 999};
        for (int i = 0; i < 3; i++) {
            double snr = ac[steps[i]] / (1.0 - ac[steps[i]]);
            assertEquals(Math.min(snr, 5) / snr, we[i], 1e-6, "epsilon weight at t=" + steps[i]);
            assertEquals(Math.min(snr, 5) / (snr + 1), wv[i], 1e-6, "v weight at t=" + steps[i]);
        }
        assertTrue(we[0] < 0.01 && we[2] == 1f, "low-noise steps are down-weighted, high-noise ones kept");
    }

    @Test
    void minSnrWithAHugeGammaIsThePlainEpsilonLoss() {
        try (Models m = Models.create()) {
            var plain = new LatentDiffusionObjective(m.unet(), m.text(), true, ddpm, PredictionType.EPSILON);
            var weighted = plain.withSnrGamma(1e12);
            double a = plain.loss(latents, inputIds, new TorchGenerator(7)).item_double();
            double b = weighted.loss(latents, inputIds, new TorchGenerator(7)).item_double();
            assertEquals(a, b, 1e-6 * a);
        }
    }

    @Test
    void microBatchesOnTwoWorkersGiveTheSameWeightsBitForBitAsOneAfterAnother() {
        TrainingConfig c = new TrainingConfig(3, 3e-3, 1, TrainingConfig.LrSchedule.COSINE, 3, 1.0, 1e-2, 0.9, false, 5, 0);
        Map<String, float[]> sequential = trained(c, 1);
        Map<String, float[]> parallel = trained(c, 2);
        try (Models fresh = Models.create()) {
            float[] initial = Tensors.toFloats(fresh.parameters().get("unet.conv_in.weight").detach());
            assertFalse(Arrays.equals(initial, parallel.get("unet.conv_in.weight")), "the steps changed the weights");
        }
        assertEquals(sequential.keySet(), parallel.keySet());
        for (String k : sequential.keySet()) {
            assertArrayEquals(sequential.get(k), parallel.get(k), k);
        }
    }

    @Test
    void aFailingMicroBatchOnAWorkerIsReportedAsItself() {
        try (Models m = Models.create(); Trainer t = new Trainer(config(2), m.parameters(), null)) {
            t.useWorkers(2);
            Trainer.Objective good = m.objective();
            Trainer.Objective failing = (step, micro, rng) -> {
                if (micro == 1) throw new JDiffusionException("bad micro-batch");
                return good.loss(step, micro, rng);
            };
            var e = assertThrows(JDiffusionException.class, () -> t.run(failing, Trainer.Listener.NONE));
            assertEquals("bad micro-batch", e.getMessage());
            assertEquals(0, t.stepsDone());
        }
    }

    /** The parameters and EMA weights after training with {@code workers}. */
    private static Map<String, float[]> trained(TrainingConfig c, int workers) {
        Map<String, float[]> out = new TreeMap<>();
        try (Models m = Models.create(); Trainer t = new Trainer(c, m.parameters(), null)) {
            t.useWorkers(workers);
            t.run(m.objective(), Trainer.Listener.NONE);
            m.parameters().forEach((k, p) -> out.put(k, Tensors.toFloats(p.detach())));
            t.emaWeights().forEach((k, p) -> out.put("ema/" + k, Tensors.toFloats(p)));
        }
        return out;
    }
}
