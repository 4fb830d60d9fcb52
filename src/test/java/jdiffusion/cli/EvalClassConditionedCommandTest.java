package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import jdiffusion.training.pixel.IdxFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * eval-class-conditioned on the shipped Fashion-MNIST model and classifier: the per-class score with
 * what the misses were called, a subset of classes, both samplers, and its bad input. The test set
 * (only the classifier's own accuracy is read from it) is a small made-up one: CI has no Fashion-MNIST.
 */
class EvalClassConditionedCommandTest {
    static final String MODEL = "models/fashion-mnist";
    static final String CLASSIFIER = MODEL + "/classifier.safetensors";

    @TempDir
    Path dir;

    @Test
    void scoresTheRequestedClassesAndNamesTheMisses() throws Exception {
        Path data = IdxFiles.fashionLike(dir.resolve("data"), "t10k", 20);
        Path grid = dir.resolve("grid.png");
        CliRunner r = CliRunner.run("eval-class-conditioned", "--model", MODEL, "--classifier", CLASSIFIER, "--data", data.toString(),
                "--classes", "1,8", "--samples-per-class", "20", "--steps", "20", "--grid", grid.toString());
        assertEquals(0, r.exitCode(), r.err());
        // trousers and bags: 91.5 % and 96.9 % of 1,000 samples each at 40 steps (docs/pixel-diffusion.md)
        assertTrue(percent(r.out(), "class 1 Trouser") >= 60, r.out());
        assertTrue(percent(r.out(), "class 8 Bag") >= 60, r.out());
        assertEquals(0, r.out().lines().filter(l -> l.startsWith("class 0")).count(), "only the classes asked for: " + r.out());
        assertTrue(r.out().contains("(DDIM 20 steps, fp32)"), r.out());
        // a line with misses names them with their share, most frequent first
        r.out().lines().filter(l -> l.startsWith("class ") && l.contains("("))
                .forEach(l -> assertTrue(l.matches("class \\d .* of 20 samples \\((\\S[^,]* \\d+\\.\\d %)(, \\S[^,]* \\d+\\.\\d %)*\\)"), l));
        BufferedImage image = ImageIO.read(grid.toFile());
        assertEquals(2 * 28, image.getHeight(), "one row per class asked for");
    }

    @Test
    void samplesWithDdpmAndUnderBf16AutocastToo() throws Exception {
        Path data = IdxFiles.fashionLike(dir.resolve("data"), "t10k", 20);
        CliRunner r = CliRunner.run("eval-class-conditioned", "--model", MODEL, "--classifier", CLASSIFIER, "--data", data.toString(),
                "--classes", "8", "--samples-per-class", "4", "--sampler", "DDPM", "--steps", "50", "--dtype", "bf16");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("(DDPM 50 steps, bf16)"), r.out());
        // bags are drawn as bags under autocast as well (95 % of 1,000 in float32)
        assertTrue(percent(r.out(), "class 8 Bag") >= 50, r.out());
    }

    @Test
    void badInputEndsWithOneLine() {
        String[] base = {"eval-class-conditioned", "--model", MODEL, "--classifier", CLASSIFIER};
        for (String[] extra : new String[][] {{"--classes", "10"}, {"--samples-per-class", "0"}, {"--steps", "5000"},
                {"--sampler", "Euler"}, {"--classes", "one"}, {"--dtype", "fp16"}, {"--guidance-scale", "-1"},
                {"--guidance-scale", "2"}}) { // the shipped model was trained without class dropout

            String[] args = new String[base.length + extra.length];
            System.arraycopy(base, 0, args, 0, base.length);
            System.arraycopy(extra, 0, args, base.length, extra.length);
            CliRunner r = CliRunner.run(args);
            assertEquals(2, r.exitCode(), String.join(" ", extra) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains(extra[0]), "names the option: " + r.err());
        }
    }

    private static double percent(String out, String prefix) {
        String line = out.lines().filter(l -> l.startsWith(prefix)).findFirst().orElseThrow(() -> new AssertionError(out));
        return Double.parseDouble(line.substring(prefix.length()).trim().split("\\s+")[0]);
    }
}
