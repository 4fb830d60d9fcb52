package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProgressBarTest {
    @Test
    void aResumedRunCountsOnFromItsCheckpoint() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        ProgressBar bar = new ProgressBar(out, "dreambooth", 500, 300, System.nanoTime() - 2_000_000_000L);
        bar.update(301);
        bar.update(500);
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains(" 301/500 "), text);
        assertTrue(text.contains(" 500/500 "), text);
        // 200 steps of this run in ~2 s: ~100 it/s, not the 250 it/s that counting the resumed 300 would claim
        assertTrue(text.contains("it/s") && !text.contains("250."), text);
        String header = "[" + "#".repeat(14); // 301/500 of a 24-wide bar: 14 filled
        assertTrue(text.contains(header), text);
    }
}
