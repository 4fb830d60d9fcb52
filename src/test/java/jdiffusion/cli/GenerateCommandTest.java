package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import jdiffusion.Golden;
import jdiffusion.image.Images;
import jdiffusion.io.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** txt2img / img2img / inpaint through the CLI, against the golden pipeline cases. */
class GenerateCommandTest {
    @TempDir
    Path dir;

    private static List<String> goldenArgs(String verb, String model) {
        return new ArrayList<>(List.of(verb, "--model", model, "--quiet",
                "--prompt", "a photo of an astronaut riding a horse on mars",
                "--negative-prompt", "blurry, low quality, deformed",
                "--steps", "4", "--guidance-scale", "6", "--seed", "0"));
    }

    @Test
    void txt2imgMatchesTheGoldenCaseAndRoundTripsItsParameters() throws Exception {
        Path model = Golden.model("sd1-tiny-pipeline");
        Path png = dir.resolve("a.png");
        Path latents = dir.resolve("a.safetensors");
        List<String> args = goldenArgs("txt2img", model.toString());
        args.addAll(List.of("--sampler", "Euler a", "--width", "48", "--height", "32",
                "--out", png.toString(), "--save-latents", latents.toString()));
        CliRunner r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(0, r.exitCode(), r.err());
        try (Golden g = Golden.open("pipe_txt2img_euler_a"); SafetensorsFile f = SafetensorsFile.open(latents)) {
            Golden.assertClose("cli initial_latents", f.load("initial_latents"), g.tensor("initial_latents"), 1e-6, 1e-6);
            Golden.assertClose("cli final_latents", f.load("final_latents"), g.tensor("final_latents"), 1e-4, 1e-5);
        }

        CliRunner info = CliRunner.run("info", png.toString());
        assertEquals(0, info.exitCode(), info.err());
        assertTrue(info.out().contains("Sampler: Euler a") && info.out().contains("Seed: 0")
                && info.out().contains("Size: 48x32") && info.out().contains("Negative prompt: blurry"), info.out());

        Path again = dir.resolve("b.png");
        CliRunner from = CliRunner.run("txt2img", "--model", model.toString(), "--quiet", "--from", png.toString(),
                "--out", again.toString());
        assertEquals(0, from.exitCode(), from.err());
        assertSamePixels(Images.read(png), Images.read(again));
    }

    @Test
    void img2imgAndInpaintRunFromTheCommandLine() throws Exception {
        Golden.root();
        Path caseDir = Golden.root().resolve("pipe_img2img_pndm");
        Path png = dir.resolve("i.png");
        List<String> args = goldenArgs("img2img", Golden.model("sd1-tiny-pipeline").toString());
        args.addAll(List.of("--init-image", caseDir.resolve("init_image.png").toString(), "--strength", "0.75",
                "--out", png.toString()));
        CliRunner r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(Files.exists(png));
        assertTrue(CliRunner.run("info", png.toString()).out().contains("Denoising strength: 0.75"));

        Path legacy = Golden.root().resolve("pipe_inpaint_legacy_pndm");
        Path out = dir.resolve("p.png");
        args = goldenArgs("inpaint", Golden.model("sd1-tiny-pipeline").toString());
        args.addAll(List.of("--init-image", legacy.resolve("init_image.png").toString(),
                "--mask", legacy.resolve("mask.png").toString(), "--strength", "0.75", "--keep-unmasked",
                "--out", out.toString()));
        r = CliRunner.run(args.toArray(String[]::new));
        assertEquals(0, r.exitCode(), r.err());
        // with --keep-unmasked the pixels outside the mask are the input's
        BufferedImage init = Images.read(legacy.resolve("init_image.png"));
        BufferedImage mask = Images.read(legacy.resolve("mask.png"));
        BufferedImage result = Images.read(out);
        int kept = 0;
        for (int y = 0; y < init.getHeight(); y++) {
            for (int x = 0; x < init.getWidth(); x++) {
                if ((mask.getRGB(x, y) & 0xff) == 0) {
                    assertEquals(init.getRGB(x, y), result.getRGB(x, y), "pixel " + x + "," + y);
                    kept++;
                }
            }
        }
        assertTrue(kept > 0, "the mask must keep some pixels");
    }

    @Test
    void aSingleFileCheckpointGivesTheFoldersImage() throws Exception {
        Path model = Golden.model("sd1-tiny-pipeline");
        Path single = dir.resolve("tiny.safetensors");
        CliRunner c = CliRunner.run("convert", "--to", "single-file", model.toString(), single.toString());
        assertEquals(0, c.exitCode(), c.err());
        List<String> common = List.of("--quiet", "--prompt", "a red circle", "--steps", "3", "--seed", "5",
                "--width", "16", "--height", "16");
        Path fromFolder = dir.resolve("folder.png");
        Path fromFile = dir.resolve("file.png");
        List<String> a = new ArrayList<>(List.of("txt2img", "--model", model.toString(), "--out", fromFolder.toString()));
        a.addAll(common);
        List<String> b = new ArrayList<>(List.of("txt2img", "--model", single.toString(), "--tokenizer",
                model.resolve("tokenizer").toString(), "--out", fromFile.toString()));
        b.addAll(common);
        assertEquals(0, CliRunner.run(a.toArray(String[]::new)).exitCode());
        CliRunner r = CliRunner.run(b.toArray(String[]::new));
        assertEquals(0, r.exitCode(), r.err());
        assertSamePixels(Images.read(fromFolder), Images.read(fromFile));
        List<String> noTokenizer = new ArrayList<>(List.of("txt2img", "--model", single.toString(), "--out", fromFile.toString()));
        noTokenizer.addAll(common);
        r = CliRunner.run(noTokenizer.toArray(String[]::new));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--tokenizer"), r.err());
    }

    @Test
    void aTextualInversionTokenCanBeUsedInThePrompt() throws Exception {
        Path model = Golden.model("sd1-tiny-pipeline");
        Path embedding = dir.resolve("learned_embeds.safetensors");
        float[] vector = new float[32];
        for (int i = 0; i < 32; i++) vector[i] = (float) Math.sin(i);
        jdiffusion.io.SafetensorsWriter.write(embedding,
                java.util.Map.of("<cat-toy>", jdiffusion.tensor.Tensors.fromFloats(vector, 32)));
        Path with = dir.resolve("with.png");
        Path without = dir.resolve("without.png");
        List<String> common = List.of("--model", model.toString(), "--quiet", "--steps", "3", "--seed", "1",
                "--width", "16", "--height", "16");
        List<String> a = new ArrayList<>(List.of("txt2img", "--prompt", "a <cat-toy> on a table", "--embedding",
                embedding.toString(), "--out", with.toString()));
        a.addAll(common);
        List<String> b = new ArrayList<>(List.of("txt2img", "--prompt", "a <cat-toy> on a table", "--out", without.toString()));
        b.addAll(common);
        CliRunner r = CliRunner.run(a.toArray(String[]::new));
        assertEquals(0, r.exitCode(), r.err());
        assertEquals(0, CliRunner.run(b.toArray(String[]::new)).exitCode());
        int[] pa = Images.read(with).getRGB(0, 0, 16, 16, null, 0, 16);
        int[] pb = Images.read(without).getRGB(0, 0, 16, 16, null, 0, 16);
        assertFalse(java.util.Arrays.equals(pa, pb), "the embedding must change the image");
        // an SD2-width embedding on this SD1-style model: a clear error naming both sizes
        jdiffusion.io.SafetensorsWriter.write(embedding,
                java.util.Map.of("<cat-toy>", jdiffusion.tensor.Tensors.fromFloats(new float[64], 64)));
        r = CliRunner.run(a.toArray(String[]::new));
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("64") && r.err().contains("32"), r.err());
    }

    @Test
    void badInputGetsOneLineAndWritesNothing() throws Exception {
        String model = Golden.model("sd1-tiny-pipeline").toString();
        Path png = dir.resolve("never.png");
        String[][] bad = {
                {"--steps", "0"}, {"--steps", "100000"}, {"--guidance-scale", "NaN"}, {"--guidance-scale", "-1"},
                {"--width", "50"}, {"--sampler", "Euler b"}, {"--prompt", "bad \u0007 prompt"},
                {"--num-images", "0"}, {"--long-prompts", "sideways"},
        };
        for (String[] extra : bad) {
            List<String> args = new ArrayList<>(List.of("txt2img", "--model", model, "--quiet", "--out", png.toString()));
            if (!extra[0].equals("--prompt")) args.addAll(List.of("--prompt", "a cat"));
            args.addAll(List.of(extra));
            CliRunner r = CliRunner.run(args.toArray(String[]::new));
            assertEquals(2, r.exitCode(), String.join(" ", extra) + ": " + r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1,
                    String.join(" ", extra) + ": " + r.err());
        }
        CliRunner r = CliRunner.run("txt2img", "--model", dir.resolve("nope").toString(), "--prompt", "x", "--out", png.toString());
        assertEquals(2, r.exitCode());
        Path notImage = Files.writeString(dir.resolve("x.png"), "text");
        r = CliRunner.run("img2img", "--model", model, "--prompt", "x", "--init-image", notImage.toString(), "--out", png.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("not an image"), r.err());
        Path caseDir = Golden.root().resolve("pipe_inpaint_legacy_pndm");
        BufferedImage small = new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB);
        Path smallMask = dir.resolve("small.png");
        javax.imageio.ImageIO.write(small, "png", smallMask.toFile());
        r = CliRunner.run("inpaint", "--model", model, "--prompt", "x", "--init-image",
                caseDir.resolve("init_image.png").toString(), "--mask", smallMask.toString(), "--out", png.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("same size"), r.err());
        try (Stream<Path> s = Files.list(dir)) {
            assertFalse(s.anyMatch(p -> p.getFileName().toString().startsWith("never")), "nothing may be written");
        }
    }

    static void assertSamePixels(BufferedImage a, BufferedImage b) {
        assertEquals(a.getWidth(), b.getWidth());
        assertEquals(a.getHeight(), b.getHeight());
        int[] pa = a.getRGB(0, 0, a.getWidth(), a.getHeight(), null, 0, a.getWidth());
        int[] pb = b.getRGB(0, 0, b.getWidth(), b.getHeight(), null, 0, b.getWidth());
        assertArrayEquals(pa, pb);
    }
}
