package jdiffusion.tools.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import jdiffusion.cli.CliRunner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bench --depth-estimator}: the depth estimator's load and estimate times of a depth model folder. */
class DepthEstimatorBenchTest {
    @Test
    void timesTheDepthEstimatorOfADepthModel(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("tiny-depth");
        CliRunner made = CliRunner.run("create-random", "--config", "tiny-depth", model.toString());
        assertEquals(0, made.exitCode(), made.err());

        CliRunner r = CliRunner.run("bench", "--depth-estimator", model.toString(), "--dtype", "fp32,bf16", "--size", "64",
                "--steps", "3", "--json");
        assertEquals(0, r.exitCode(), r.err());
        JsonNode runs = new ObjectMapper().readTree(r.out());
        assertEquals(2, runs.size());
        for (JsonNode run : runs) {
            assertTrue(run.path("loadSeconds").asDouble() > 0, run.toString());
            assertTrue(run.path("estimateSeconds").asDouble() > 0, run.toString());
            assertEquals(3, run.path("allEstimateSeconds").size(), run.toString());
            assertTrue(run.path("finite").asBoolean(), run.toString());
            assertEquals(3, run.path("depthShape").size(), "[1, H, W] at the processor's size: " + run);
        }
        assertEquals("fp32", runs.get(0).path("dtype").asText());
        assertEquals("bf16", runs.get(1).path("dtype").asText());

        CliRunner text = CliRunner.run("bench", "--depth-estimator", model.toString(), "--dtype", "fp32", "--size", "64");
        assertEquals(0, text.exitCode(), text.err());
        assertTrue(text.out().startsWith("depth estimator fp32, 64x64 image: load "), text.out());

        CliRunner missing = CliRunner.run("bench", "--depth-estimator", dir.resolve("nowhere").toString());
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().contains("--depth-estimator") && missing.err().strip().lines().count() == 1, missing.err());
    }
}
