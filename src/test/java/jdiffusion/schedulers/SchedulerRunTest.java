package jdiffusion.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Runs without the goldens: step-count limits, 1 and 1000 steps, isolation of runs, native memory. */
class SchedulerRunTest {
    /** The stable-diffusion-v1-5 scheduler_config.json (PNDM). */
    static final String SD15 = """
            {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
             "clip_sample": false}""";

    static Scheduler sd15(SchedulerKind kind) {
        return Schedulers.create(kind.className(), SchedulerConfigFile.parse(SD15), Map.of());
    }

    /** The golden tests' fake model over a whole run; each step in its own PointerScope. */
    static Tensor trajectory(SchedulerRun run, long seed) {
        TorchGenerator g = new TorchGenerator(seed);
        Tensor e = g.randn(1, 4, 8, 8);
        Tensor x = g.randn(1, 4, 8, 8).mul(new Scalar(run.initNoiseSigma()));
        for (int i = 0; i < run.size(); i++) {
            try (PointerScope step = new PointerScope()) {
                Tensor out = run.step(run.scaleModelInput(x).mul(new Scalar(0.1f)).add(e), x, g).prevSample();
                out.retainReference();   // outlives the step scope; the test leaves it to the GC
                x = out;
            }
        }
        return x;
    }

    @ParameterizedTest
    @EnumSource(SchedulerKind.class)
    void rejectsImpossibleStepCounts(SchedulerKind kind) {
        Scheduler s = sd15(kind);
        for (int steps : new int[] {0, -3, 1001}) {
            JDiffusionException e = assertThrows(JDiffusionException.class, () -> s.start(steps), kind + " " + steps);
            assertTrue(e.getMessage().contains("steps"), e.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(SchedulerKind.class)
    void oneAndAThousandStepsGiveFiniteSamples(SchedulerKind kind) {
        Scheduler s = sd15(kind);
        // the consistency schedulers take their steps from the distillation schedule (50 timesteps)
        boolean distilled = kind == SchedulerKind.LCM || kind == SchedulerKind.TCD;
        for (int steps : new int[] {1, 2, distilled ? s.config().originalInferenceSteps() : 1000}) {
            try (PointerScope ignored = new PointerScope(); SchedulerRun run = s.start(steps)) {
                assertEquals(steps == 1 ? 1 : steps * s.order() - (s.order() - 1) + (kind == SchedulerKind.PNDM ? 1 : 0),
                        run.size(), kind + " step calls for " + steps);
                Tensor x = trajectory(run, 7);
                assertTrue(run.finished());
                float[] v = Tensors.toFloats(x);
                for (float f : v) assertTrue(Float.isFinite(f), kind + " " + steps + " steps gave " + f);
            }
        }
    }

    @Test
    void finishedRunsRefuseMoreSteps() {
        try (PointerScope ignored = new PointerScope(); SchedulerRun run = sd15(SchedulerKind.EULER).start(2)) {
            trajectory(run, 1);
            Tensor x = Tensors.fromFloats(new float[4], 1, 4, 1, 1);
            assertThrows(IllegalStateException.class, () -> run.step(x, x, null));
        }
    }

    /** Interleaving two runs of one scheduler step by step gives what each gives alone. */
    @ParameterizedTest
    @EnumSource(SchedulerKind.class)
    void interleavedRunsDoNotInterfere(SchedulerKind kind) {
        Scheduler s = sd15(kind);
        try (PointerScope ignored = new PointerScope()) {
            Tensor aloneA = trajectory(s.start(12), 1);
            Tensor aloneB = trajectory(s.start(12), 2);

            SchedulerRun a = s.start(12);
            SchedulerRun b = s.start(12);
            TorchGenerator ga = new TorchGenerator(1);
            TorchGenerator gb = new TorchGenerator(2);
            Tensor ea = ga.randn(1, 4, 8, 8);
            Tensor xa = ga.randn(1, 4, 8, 8).mul(new Scalar(a.initNoiseSigma()));
            Tensor eb = gb.randn(1, 4, 8, 8);
            Tensor xb = gb.randn(1, 4, 8, 8).mul(new Scalar(b.initNoiseSigma()));
            for (int i = 0; i < a.size(); i++) {
                xa = a.step(a.scaleModelInput(xa).mul(new Scalar(0.1f)).add(ea), xa, ga).prevSample();
                xb = b.step(b.scaleModelInput(xb).mul(new Scalar(0.1f)).add(eb), xb, gb).prevSample();
            }
            assertEquals(0.0, Tensors.maxAbsDiff(aloneA, xa), kind + " run A");
            assertEquals(0.0, Tensors.maxAbsDiff(aloneB, xb), kind + " run B");
        }
    }

    /** One shared scheduler, runs on several threads at once (as the HTTP server will). */
    @Test
    void concurrentRunsOnSharedSchedulers() throws Exception {
        List<Scheduler> schedulers = new ArrayList<>();
        for (SchedulerKind k : SchedulerKind.values()) schedulers.add(sd15(k));
        List<float[]> expected = new ArrayList<>();
        for (Scheduler s : schedulers) {
            try (PointerScope ignored = new PointerScope()) {
                expected.add(Tensors.toFloats(trajectory(s.start(10), 5)));
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<float[]>> results = new ArrayList<>();
            for (int repeat = 0; repeat < 3; repeat++) {
                for (Scheduler s : schedulers) {
                    results.add(pool.submit(() -> {
                        try (PointerScope ignored = new PointerScope()) {
                            return Tensors.toFloats(trajectory(s.start(10), 5));
                        }
                    }));
                }
            }
            for (int i = 0; i < results.size(); i++) {
                assertArrayEquals(expected.get(i % schedulers.size()), results.get(i).get(), "run " + i);
            }
        } finally {
            pool.shutdown();
        }
    }

    /**
     * The history a run keeps holds one extra reference on the tensors' storage while it is needed and
     * none once the run is over: after the last step, or on close() of an abandoned run.
     */
    @ParameterizedTest
    @EnumSource(value = SchedulerKind.class, names = {"PNDM", "LMS", "HEUN", "DPM_SOLVER_MULTISTEP", "UNIPC"})
    void historyIsReleasedWhenTheRunEnds(SchedulerKind kind) {
        Scheduler s = sd15(kind);
        Tensor x = new TorchGenerator(3).randn(1, 4, 8, 8);      // outside any scope: only the test holds it
        Tensor out = new TorchGenerator(4).randn(1, 4, 8, 8);
        assertEquals(1, out.use_count());
        try (SchedulerRun run = s.start(3)) {
            try (PointerScope step = new PointerScope()) {
                run.step(out, x, null);
            }
            assertTrue(run.heldCount() > 0, kind + " keeps nothing between steps?");
            if (kind == SchedulerKind.PNDM) assertEquals(2, out.use_count(), "PNDM keeps the model output in ets");
        }
        assertEquals(1, out.use_count(), kind + " still holds the model output after close()");
        assertEquals(1, x.use_count(), kind + " still holds the sample after close()");

        SchedulerRun full = s.start(2);
        try (PointerScope ignored = new PointerScope()) {
            while (!full.finished()) full.step(out, x, null);
        }
        assertEquals(0, full.heldCount(), kind + " history after the last step");
        assertEquals(1, out.use_count(), kind + " still holds the model output after the last step");
        assertEquals(1, x.use_count(), kind + " still holds the sample after the last step");
    }
}
