package jdiffusion.tools.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jdiffusion.cli.CliRunner;
import org.junit.jupiter.api.Test;

/** {@code bench --tiny --json} runs in seconds and reports every field, so the benchmark cannot rot. */
class BenchCommandTest {
    @Test
    void fastPathPlacesEveryLcmTargetAndTimesBothRequests() {
        CliRunner r = CliRunner.run("bench", "--fast-path", "--tiny", "--dtype", "fp32");
        assertEquals(0, r.exitCode(), r.err());
        System.out.print(r.out());
        assertTrue(r.out().contains("CPU: ") && r.out().contains("class: " + jdiffusion.tensor.CpuClass.current())
                && r.out().contains("threads"), r.out());
        // every LCM-LoRA target of the tiny UNet (the 197 LCMLoRATest counts), merged without a refusal
        var m = java.util.regex.Pattern.compile("(\\d+) weights, rank 64.*first request \\(with the merge\\) ([0-9.]+) s; "
                + "kept-LoRA request ([0-9.]+) s \\(VAE decode ([0-9.]+) s\\); with TAESD instead ([0-9.]+) s").matcher(r.out());
        assertTrue(m.find(), r.out());
        assertEquals(197, Integer.parseInt(m.group(1)));
        for (int g = 2; g <= 5; g++) assertTrue(Double.parseDouble(m.group(g)) > 0, r.out());
    }

    @Test
    void tinyBenchmarkReportsEveryPhase() throws Exception {
        CliRunner r = CliRunner.run("bench", "--tiny", "--json", "--dtype", "fp32,bf16", "--steps", "3");
        assertEquals(0, r.exitCode(), r.err());
        System.out.print(r.err());
        JsonNode report = new ObjectMapper().readTree(r.out());
        assertTrue(report.path("threads").asInt() >= 1, r.out());
        assertTrue(report.path("physical_cores").asInt() >= 1);
        assertEquals(3, report.path("load_average").size());
        JsonNode ceiling = report.path("ceiling");
        for (String k : new String[] {"matmul_fp32", "conv_fp32"}) assertTrue(ceiling.path(k).asDouble() > 0, k);
        JsonNode runs = report.path("runs");
        assertEquals(2, runs.size());
        for (JsonNode run : runs) {
            String what = run.path("dtype").asText() + " " + run.path("size").asInt();
            assertEquals(64, run.path("size").asInt());
            assertEquals(3, run.path("step_seconds").size(), what);
            for (String k : new String[] {"load_seconds", "text_encode_seconds", "unet_step_seconds", "vae_decode_seconds",
                    "total_seconds", "unet_gflops_per_second", "vae_gflops_per_second"}) {
                double v = run.path(k).asDouble();
                assertTrue(v > 0 && Double.isFinite(v), what + " " + k + " = " + v);
            }
            assertTrue(run.path("total_seconds").asDouble() >= run.path("unet_step_seconds").asDouble() * 2, what);
            assertTrue(run.path("peak_rss_bytes").asLong() > 50L << 20, what);
            assertTrue(run.path("unet_flops").path("convolution").asLong() > 0, what);
            assertTrue(run.path("unet_flops").path("attention").asLong() > 0, what);
            assertTrue(run.path("vae_flops").path("convolution").asLong() > 0, what);
            JsonNode b = run.path("unet_step_breakdown");
            assertTrue(b.path("convolution").asDouble() > 0 && b.path("linear").asDouble() > 0, what + " " + b);
            assertTrue(run.path("finite").asBoolean(), what);
        }
        // both dtypes compute the same model at the same shape
        assertEquals(runs.get(0).path("unet_flops"), runs.get(1).path("unet_flops"));
    }

    @Test
    void tableNamesThePhases() {
        CliRunner r = CliRunner.run("bench", "--tiny", "--dtype", "bf16", "--steps", "3");
        assertEquals(0, r.exitCode(), r.err());
        System.out.print(r.out());
        for (String s : new String[] {"UNet step", "VAE decode", "peak RSS", "Ceiling", "Load average", "Where the time goes"}) {
            assertTrue(r.out().contains(s), s);
        }
    }
}
