package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerRunTest.SD15;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * LCMScheduler and TCDScheduler beyond the golden step counts (4 and 8): the distillation timesteps for
 * other counts, worked by hand from diffusers' set_timesteps, the last-step and one-step rules, the
 * A1111 names and the refusals. The trajectories themselves are in SchedulerGoldenTest.
 */
class ConsistencySchedulersTest {
    private static final SchedulerConfigFile SOURCE = SchedulerConfigFile.parse(SD15);

    private static double[] timesteps(String name, int steps, Map<String, ?> overrides) {
        return Schedulers.create(name, SOURCE, overrides).schedule(steps).timestepValues();
    }

    @Test
    void timestepsAreEvenlySpacedIndicesIntoTheDistillationSchedule() {
        // k = 1000 // 50 = 20: 999, 979, ..., 19; indices floor(linspace(0, 50, n, endpoint=False))
        assertArrayEquals(new double[] {999}, timesteps("LCM", 1, Map.of()));
        assertArrayEquals(new double[] {999, 499}, timesteps("LCM", 2, Map.of()));
        assertArrayEquals(new double[] {999, 679, 339}, timesteps("LCM", 3, Map.of()));       // indices 0, 16, 33
        assertArrayEquals(new double[] {999, 839, 679, 499, 339, 179}, timesteps("TCD", 6, Map.of()));   // 0, 8, 16, 25, 33, 41
        double[] all = timesteps("LCM", 50, Map.of());
        assertEquals(19, all[49]);
        // original_inference_steps 4: k = 250, the schedule is 999, 749, 499, 249
        assertArrayEquals(new double[] {999, 499}, timesteps("LCM", 2, Map.of("original_inference_steps", 4)));
        // TCD without original steps: every training timestep, 1000 // 4 apart
        Map<String, Object> none = new java.util.HashMap<>();
        none.put("original_inference_steps", null);
        assertArrayEquals(new double[] {999, 749, 499, 249}, timesteps("TCD", 4, none));
    }

    @Test
    void namesDefaultsAndRefusals() {
        assertInstanceOf(LCMScheduler.class, Schedulers.create("lcm", SOURCE, Map.of()));
        TCDScheduler tcd = assertInstanceOf(TCDScheduler.class, Schedulers.create("TCD", SOURCE, Map.of()));
        assertEquals(TCDScheduler.DEFAULT_ETA, tcd.eta());
        Scheduler fresh = Schedulers.create("LCMScheduler", SchedulerConfigFile.empty(), Map.of());
        assertEquals(50, fresh.config().originalInferenceSteps());
        assertEquals(10.0, fresh.config().timestepScaling());
        assertTrue(fresh.config().setAlphaToOne(), "LCM's own default, unlike the SD file's");
        JDiffusionException tooMany = assertThrows(JDiffusionException.class, () -> timesteps("LCM", 51, Map.of()));
        assertTrue(tooMany.getMessage().contains("original_inference_steps (50)"), tooMany.getMessage());
        assertThrows(JDiffusionException.class, () -> tcd.withEta(1.5));
        Map<String, Object> none = new java.util.HashMap<>();
        none.put("original_inference_steps", null);
        assertThrows(JDiffusionException.class, () -> Schedulers.create("LCM", SOURCE, none));
    }

    @Test
    void theLastStepReturnsTheDenoisedSampleWithoutDrawing() {
        try (PointerScope ignored = new PointerScope()) {
            Tensor x = new TorchGenerator(1).randn(1, 4, 8, 8);
            Tensor eps = new TorchGenerator(2).randn(1, 4, 8, 8);
            for (String name : new String[] {"LCM", "TCD"}) {
                // one step: no draw, so a generator that would fail is never touched
                SchedulerRun one = Schedulers.create(name, SOURCE, Map.of()).start(1);
                StepOutput out = one.step(eps, x, null);
                assertNull(out.predOriginalSample());
                assertTrue(one.finished());
                // two steps draw exactly once: the generator is then where one randn leaves it
                TorchGenerator g = new TorchGenerator(3);
                SchedulerRun two = Schedulers.create(name, SOURCE, Map.of()).start(2);
                Tensor mid = two.step(eps, x, g).prevSample();
                two.step(eps, mid, g);
                TorchGenerator reference = new TorchGenerator(3);
                reference.randn(1, 4, 8, 8);
                assertEquals(0.0, Tensors.maxAbsDiff(reference.randn(3), g.randn(3)), name);
            }
            // TCD with eta 0 is deterministic: no generator needed at any step
            TCDScheduler tcd = ((TCDScheduler) Schedulers.create("TCD", SOURCE, Map.of())).withEta(0);
            SchedulerRun run = tcd.start(2);
            run.step(eps, run.step(eps, x, null).prevSample(), null);
            assertTrue(run.finished());
        }
    }
}
