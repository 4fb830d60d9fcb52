package jdiffusion.tools.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.cli.CliRunner;
import jdiffusion.nn.AttentionKernel;
import jdiffusion.tensor.CpuClass;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench} names the CPU class, writes each ceiling probe's FLOP count beside its rate,
 * probes the attention kernels, and divides its figures by those of {@code --compare FILE.json}.
 */
class BenchCompareTest {
    @TempDir
    Path dir;

    @Test
    void reportCarriesCpuClassProbeFlopsAndRatiosToTheComparedFile() throws Exception {
        Path theirs = dir.resolve("diffusers.json");
        Files.writeString(theirs, """
                {"name": "diffusers bf16 autocast (made-up figures)", "cpu": "Some Other CPU",
                 "runs": [{"dtype": "fp32", "size": 64, "unet_step_seconds": 0.5, "vae_decode_seconds": 0.25, "peak_rss_bytes": 2e9},
                          {"dtype": "bf16", "size": 512, "unet_step_seconds": 18.0}]}
                """);
        CliRunner r = CliRunner.run("bench", "--tiny", "--json", "--dtype", "fp32", "--steps", "3", "--compare", theirs.toString());
        assertEquals(0, r.exitCode(), r.err());
        JsonNode report = new ObjectMapper().readTree(r.out());
        assertEquals(CpuClass.current().toString(), report.path("cpu_class").asText());

        JsonNode ceiling = report.path("ceiling");
        // the tiny probe's shapes: matmul 512^3, conv [1, 64, 32, 32] 3x3, attention [2, 2, 256, 40]
        assertEquals(2.0 * 512 * 512 * 512 / 1e9, ceiling.path("matmul_gflop").asDouble(), 1e-12);
        assertEquals(2.0 * 64 * 64 * 9 * 32 * 32 / 1e9, ceiling.path("conv_gflop").asDouble(), 1e-12);
        assertEquals(4.0 * 2 * 2 * 256 * 256 * 40 / 1e9, ceiling.path("attention_gflop").asDouble(), 1e-12);
        assertTrue(ceiling.path("attention").path("fp32 SDPA").asDouble() > 0, ceiling.toString());
        assertEquals(AttentionKernel.choose(ScalarType.BFloat16, true, false, CpuClass.current()).name(),
                ceiling.path("attention_kernel_bf16").asText());

        JsonNode ratios = report.path("compare_ratios");
        assertEquals(1, ratios.size(), "only fp32 64 is in both");
        JsonNode run = report.path("runs").get(0);
        JsonNode ratio = ratios.get(0);
        assertEquals(run.path("unet_step_seconds").asDouble() / 0.5, ratio.path("unet_step").asDouble(), 1e-12);
        assertEquals(run.path("vae_decode_seconds").asDouble() / 0.25, ratio.path("vae_decode").asDouble(), 1e-12);
        assertEquals(run.path("peak_rss_bytes").asDouble() / 2e9, ratio.path("peak_rss").asDouble(), 1e-12);
        assertEquals("diffusers bf16 autocast (made-up figures)", report.path("compare").path("name").asText());

        // a saved jdiffusion report compares too, named by its file: before / after a change
        Path before = dir.resolve("before.json");
        Files.writeString(before, r.out());
        CliRunner again = CliRunner.run("bench", "--tiny", "--json", "--dtype", "fp32", "--steps", "3", "--compare", before.toString());
        assertEquals(0, again.exitCode(), again.err());
        JsonNode second = new ObjectMapper().readTree(again.out());
        assertEquals("before.json", second.path("compare").path("name").asText());
        assertEquals(second.path("runs").get(0).path("unet_step_seconds").asDouble() / run.path("unet_step_seconds").asDouble(),
                second.path("compare_ratios").get(0).path("unet_step").asDouble(), 1e-12);

        // the table says what it compares with, and that the other CPU is another machine
        CliRunner table = CliRunner.run("bench", "--tiny", "--dtype", "fp32", "--steps", "3", "--compare", theirs.toString());
        assertEquals(0, table.exitCode(), table.err());
        System.out.print(table.out());
        for (String s : new String[] {"class: " + CpuClass.current(), "GFLOP per call", "Attention (GFLOP/s",
                "Against diffusers bf16 autocast (made-up figures) measured on Some Other CPU", "UNet step"}) {
            assertTrue(table.out().contains(s), s);
        }
    }

    @Test
    void aBadCompareFileFailsWithOneLineBeforeAnythingRuns() throws Exception {
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{\"runs\": [{\"dtype\": \"fp64\", \"size\": 512, \"unet_step_seconds\": 1}]}");
        CliRunner r = CliRunner.run("bench", "--tiny", "--compare", bad.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("runs[0].dtype must be fp32, bf16 or fp16"), r.err());
        assertFalse(r.err().contains("Ceiling probe"), "nothing ran: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());

        Files.writeString(bad, "not json");
        r = CliRunner.run("bench", "--tiny", "--compare", bad.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("cannot read it as JSON"), r.err());
        r = CliRunner.run("bench", "--tiny", "--compare", dir.resolve("missing.json").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("missing.json"), r.err());
    }
}
