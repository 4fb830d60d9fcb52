package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a new user mistypes gets one line starting with "error: " and exit code 2; nothing is written. */
class OneLineErrorsTest {
    @TempDir
    Path dir;

    private static void assertOneLine(CliRunner r, String expected) {
        assertEquals(2, r.exitCode(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, r.err());
        assertTrue(r.err().contains(expected), r.err());
    }

    @Test
    void parseErrorsAreOneLineWithoutTheUsage() {
        assertOneLine(CliRunner.run("txt2img", "--seed", "99999999999999999999999", "a cat"), "--seed");
        assertOneLine(CliRunner.run("txt2img", "--bogus", "a cat"), "--bogus");
        assertOneLine(CliRunner.run("txt2img", "--steps"), "--steps");
        assertOneLine(CliRunner.run("dreambooth", "--instance-prompt", "x"), "--instance-dir");
        assertOneLine(CliRunner.run("convert", "--to", "diffusers", "a", "b", "c"), "c");
        assertOneLine(CliRunner.run("no-such-command"), "no-such-command");
        assertOneLine(CliRunner.run("txt2img", "--deepcache", "-2", "a cat"), "--deepcache must be");
        assertOneLine(CliRunner.run("txt2img", "--deepcache", "many", "a cat"), "--deepcache");
    }

    @picocli.CommandLine.Command(name = "boom")
    static final class Boom implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            throw new IllegalStateException("native failure\nframe #0: c10::Error\nframe #1: ...");
        }
    }

    @Test
    void anUnexpectedFailureIsOneLineToo() {
        java.io.StringWriter err = new java.io.StringWriter();
        picocli.CommandLine cli = Main.commandLine();
        cli.addSubcommand(new Boom());
        cli.setErr(new java.io.PrintWriter(err, true));
        int code = cli.execute("boom");
        assertEquals(1, code, err.toString());
        assertTrue(err.toString().startsWith("error: unexpected java.lang.IllegalStateException: native failure (")
                && err.toString().strip().lines().count() == 1, err.toString());
    }

    @Test
    void zeroWidthOrHeightIsRefusedLikeANegativeOne() {
        for (String option : List.of("--width", "--height")) {
            for (String value : List.of("0", "-64")) {
                assertOneLine(CliRunner.run("txt2img", option, value, "--out", dir.resolve("x.png").toString(), "a cat"), option);
            }
        }
    }

    @Test
    void noCommandPrintsTheUsageAndFails() {
        CliRunner r = CliRunner.run();
        assertTrue(r.exitCode() != 0, "exit code " + r.exitCode());
        assertTrue(r.err().contains("Usage: jdiffusion") && r.err().contains("txt2img"), r.err());
    }

    @Test
    void cudaOnTheCpuBuildSaysHowToGetIt() {
        CliRunner r = CliRunner.run("txt2img", "--device", "cuda", "--out", dir.resolve("x.png").toString(), "a cat");
        assertOneLine(r, "-Pcuda");
        assertOneLine(CliRunner.run("txt2img", "--device", "gpu", "a cat"), "cpu, cuda or cuda:N");
    }

    @Test
    void anImageTooSmallForTheModelIsOneLine() throws Exception {
        Path tiny = dir.resolve("one.png");
        ImageIO.write(new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB), "png", tiny.toFile());
        CliRunner r = CliRunner.run("img2img", "--init-image", tiny.toString(), "--steps", "2", "--quiet",
                "--out", dir.resolve("never.png").toString(), "a cat");
        assertOneLine(r, "too small");
        assertNothingWritten();
    }

    @Test
    void outputNamesAreCheckedBeforeTheGeneration() throws Exception {
        for (String name : List.of("x.webp", "x.gif", "x.txt")) {
            CliRunner r = CliRunner.run("txt2img", "--steps", "2", "--quiet", "--out", dir.resolve("never-" + name).toString(), "a cat");
            assertOneLine(r, name.substring(1));
            assertFalse(r.err().contains("Usage"), r.err());
        }
        Path file = Files.writeString(dir.resolve("never-a-file"), "");
        assertOneLine(CliRunner.run("txt2img", "--steps", "2", "--quiet", "--out", file.resolve("x.png").toString(), "a cat"),
                "is a file");
        assertOneLine(CliRunner.run("txt2img", "--steps", "2", "--quiet", "--out", dir.resolve("never.png").toString(),
                "--save-latents", file.resolve("l.safetensors").toString(), "a cat"), "is a file");
        // a folder no one can write into, even root (procfs)
        assertOneLine(CliRunner.run("txt2img", "--steps", "2", "--quiet", "--out", "/proc/never.png", "a cat"), "cannot write");
        assertNothingWritten();
    }

    private void assertNothingWritten() throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            assertFalse(s.anyMatch(p -> p.getFileName().toString().startsWith("never.") || p.getFileName().toString().startsWith(".never")),
                    "nothing may be written");
        }
    }
}
