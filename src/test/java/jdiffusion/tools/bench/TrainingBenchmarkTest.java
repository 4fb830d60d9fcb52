package jdiffusion.tools.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Set;
import java.util.TreeSet;
import jdiffusion.cli.CliRunner;
import org.junit.jupiter.api.Test;

/**
 * {@code bench-train} on the shipped tiny model (64x64) reports every field, each configuration
 * in a JVM of its own, so the training benchmark cannot rot.
 */
class TrainingBenchmarkTest {
    static final Set<String> RUN_FIELDS = Set.of("mode", "rank", "resolution", "batch", "mixed_precision",
            "gradient_checkpointing", "threads", "trainable_parameters", "setup_seconds", "step_seconds",
            "median_step_seconds", "resident_after_setup_bytes", "peak_rss_bytes", "losses", "finite");

    static JsonNode runJson(String... extra) throws Exception {
        String[] args = new String[extra.length + 5];
        System.arraycopy(new String[] {"bench-train", "--json", "--steps", "3", "--batch"}, 0, args, 0, 5);
        System.arraycopy(extra, 0, args, 5, extra.length);
        CliRunner r = CliRunner.run(args);
        System.out.print(r.err());
        assertEquals(0, r.exitCode(), r.err());
        return new ObjectMapper().readTree(r.out());
    }

    /** Checks one run's every field; returns it. */
    static JsonNode checkRun(JsonNode run, String mode, int rank, int batch, String precision) {
        String what = run.path("mode").asText() + " checkpointing " + run.path("gradient_checkpointing").asBoolean();
        Set<String> fields = new TreeSet<>();
        run.fieldNames().forEachRemaining(fields::add);
        assertEquals(new TreeSet<>(RUN_FIELDS), fields, "the fields of a run");
        assertEquals(mode, run.path("mode").asText());
        assertEquals(rank, run.path("rank").asInt());
        assertEquals(64, run.path("resolution").asInt(), "tiny-shapes' own resolution");
        assertEquals(batch, run.path("batch").asInt());
        assertEquals(precision, run.path("mixed_precision").asText());
        assertTrue(run.path("threads").asInt() >= 1, what);
        assertTrue(run.path("setup_seconds").asDouble() > 0, what);
        assertEquals(4, run.path("step_seconds").size(), what + ": a warm-up step and 3 measured");
        assertEquals(4, run.path("losses").size(), what);
        double median = run.path("median_step_seconds").asDouble();
        double[] measured = new double[3];
        for (int i = 0; i < 4; i++) {
            double s = run.path("step_seconds").get(i).asDouble();
            assertTrue(s > 0 && Double.isFinite(s), what + " step " + i + " = " + s);
            if (i > 0) measured[i - 1] = s;
            double loss = run.path("losses").get(i).asDouble();
            assertTrue(loss > 0.1 && loss < 10, what + ": an epsilon MSE of a random model is about 1, got " + loss);
        }
        java.util.Arrays.sort(measured);
        assertEquals(measured[1], median, 1e-12, what + ": the median of the steps after the warm-up");
        long resident = run.path("resident_after_setup_bytes").asLong();
        long peak = run.path("peak_rss_bytes").asLong();
        assertTrue(resident > 50L << 20, what + ": a JVM with libtorch and a model holds more than 50 MB, got " + resident);
        assertTrue(peak >= resident, what + ": peak " + peak + " below the resident size after setup " + resident);
        assertTrue(run.path("finite").asBoolean(), what);
        return run;
    }

    @Test
    void fullFineTuneWithAndWithoutCheckpointingReportsEveryField() throws Exception {
        JsonNode report = runJson("2");
        assertTrue(report.path("model").asText().endsWith("tiny-shapes"), report.path("model").asText());
        assertTrue(report.path("threads").asInt() >= 1);
        assertTrue(report.path("physical_cores").asInt() >= 1);
        assertEquals(3, report.path("load_average").size());
        assertEquals(3, report.path("load_average_at_end").size());
        JsonNode runs = report.path("runs");
        assertEquals(2, runs.size(), "--gradient-checkpointing both: off, then on");
        JsonNode off = checkRun(runs.get(0), "full", 0, 2, "no");
        JsonNode on = checkRun(runs.get(1), "full", 0, 2, "no");
        assertTrue(!off.path("gradient_checkpointing").asBoolean() && on.path("gradient_checkpointing").asBoolean());
        // every UNet parameter of tiny-shapes is trained (3.9 M in the whole model, most of them the UNet's)
        long trainable = off.path("trainable_parameters").asLong();
        assertTrue(trainable > 1_000_000 && trainable < 4_000_000, "trainable " + trainable);
        assertEquals(trainable, on.path("trainable_parameters").asLong());
        // the same seeded steps: checkpointing changes neither the first loss nor, to float tolerance, the later ones
        for (int i = 0; i < 4; i++) {
            double a = off.path("losses").get(i).asDouble(), b = on.path("losses").get(i).asDouble();
            assertEquals(a, b, 1e-4 * a, "loss of step " + i + " with and without checkpointing");
        }
    }

    @Test
    void tableComparesCheckpointingOnAndOff() {
        CliRunner r = CliRunner.run("bench-train", "--in-process", "--steps", "3", "--mixed-precision", "bf16");
        assertEquals(0, r.exitCode(), r.err());
        System.out.print(r.out());
        for (String s : new String[] {"step (median)", "peak RSS", "above setup", "Gradient checkpointing (full 64, batch 1, bf16)",
                "Load average"}) {
            assertTrue(r.out().contains(s), s + " in\n" + r.out());
        }
    }

    @Test
    void trainOnlyFreezesTheRestAndStillRuns() throws Exception {
        CliRunner r = CliRunner.run("bench-train", "--in-process", "--json", "--steps", "3", "--train-only", "conv_in",
                "--gradient-checkpointing", "on");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode run = new ObjectMapper().readTree(r.out()).path("runs").get(0);
        checkRun(run, "only conv_in", 0, 1, "no");
        // conv_in of tiny-shapes: [32, 4, 3, 3] + [32]
        assertEquals(32 * 4 * 3 * 3 + 32, run.path("trainable_parameters").asLong());
        r = CliRunner.run("bench-train", "--in-process", "--train-only", "nothing_like_this");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--train-only nothing_like_this: no UNet parameter name starts with it"), r.err());
    }

    @Test
    void badOptionsSayWhatIsWrong() {
        CliRunner r = CliRunner.run("bench-train", "--dtype", "fp16");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().startsWith("error: --dtype fp16 is for CUDA"), r.err());
        r = CliRunner.run("bench-train", "--steps", "2");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--steps 2: at least 3"), r.err());
        r = CliRunner.run("bench-train", "--resolution", "62", "--in-process");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--resolution 62: use a multiple of 4"), r.err());
    }

    /** LoRA mode: the adapters' parameters only, and both checkpointing settings agree. */
    @Test
    void loraReportsEveryField() throws Exception {
        JsonNode report = runJson("1", "--lora", "--rank", "4");
        JsonNode runs = report.path("runs");
        assertEquals(2, runs.size());
        JsonNode off = checkRun(runs.get(0), "lora", 4, 1, "no");
        JsonNode on = checkRun(runs.get(1), "lora", 4, 1, "no");
        long trainable = off.path("trainable_parameters").asLong();
        // rank 4 on to_q/k/v/out of every attention: far fewer than the UNet's parameters
        assertTrue(trainable > 0 && trainable < 200_000, "trainable " + trainable);
        assertEquals(trainable, on.path("trainable_parameters").asLong());
        assertEquals(off.path("losses").get(0).asDouble(), on.path("losses").get(0).asDouble(),
                1e-4 * off.path("losses").get(0).asDouble());
    }
}
