package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train-tiny refuses settings it cannot run before it writes anything (training itself: TrainerTest). */
class TrainTinyCommandTest {
    @Test
    void aBatchThatDoesNotSplitIntoTheRecipesMicroBatchesIsRefused(@TempDir Path dir) {
        Path out = dir.resolve("model");
        CliRunner r = CliRunner.run("train-tiny", "--out", out.toString(), "--batch", "7");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("UNet batch 7 does not split into 2 equal micro-batches; use a multiple of 2"), r.err());
        assertFalse(Files.exists(dir.resolve("model.work")), "nothing is written");
    }

    @Test
    void zeroWorkersAreRefused(@TempDir Path dir) {
        CliRunner r = CliRunner.run("train-tiny", "--out", dir.resolve("model").toString(), "--workers", "0");
        assertNotEquals(0, r.exitCode());
        assertTrue(r.err().contains("--workers must be at least 1, got 0"), r.err());
        assertFalse(Files.exists(dir.resolve("model.work")), "nothing is written");
    }
}
