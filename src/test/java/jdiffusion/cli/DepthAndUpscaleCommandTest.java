package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import jdiffusion.Golden;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** depth2img, depth and upscale through the CLI, on diffusers folders assembled from the golden components. */
class DepthAndUpscaleCommandTest {
    private static final String PROMPT = "a photo of an astronaut riding a horse on mars";
    private static final String NEGATIVE = "blurry, low quality, deformed";

    @TempDir
    Path dir;

    /** A diffusers folder whose components are links to the golden model folders. */
    private Path folder(String className, Map<String, Path> components, String extra) throws Exception {
        Path root = Files.createDirectories(dir.resolve(className));
        StringBuilder index = new StringBuilder("{\"_class_name\": \"" + className + "\"" + extra);
        for (var e : components.entrySet()) {
            Files.createSymbolicLink(root.resolve(e.getKey()), e.getValue().toAbsolutePath());
            index.append(", \"").append(e.getKey()).append("\": [\"diffusers\", \"X\"]");
        }
        Files.writeString(root.resolve("model_index.json"), index.append('}').toString());
        return root;
    }

    private Path depthModel() throws Exception {
        return folder("StableDiffusionDepth2ImgPipeline", Map.of(
                "unet", Golden.model("unet-sd2-depth"), "vae", Golden.model("sd1-tiny-pipeline").resolve("vae"),
                "text_encoder", Golden.model("text-encoder-gelu"), "tokenizer", Golden.shared().resolve("clip-tokenizer/sd2"),
                "scheduler", Golden.model("sd1-tiny-pipeline").resolve("scheduler"),
                "depth_estimator", Golden.model("dpt-hybrid-tiny"), "feature_extractor", Golden.model("dpt-hybrid-tiny")), "");
    }

    @Test
    void depth2imgWithAGivenDepthMapMatchesDiffusers() throws Exception {
        Path model = depthModel();
        Path depth = dir.resolve("depth.safetensors");
        Path latents = dir.resolve("latents.safetensors");
        try (Golden g = Golden.open("pipe_depth2img_given_depth")) {
            try (PointerScope scope = new PointerScope()) {
                SafetensorsWriter.write(depth, Map.of("depth", g.tensor("depth_map_input")), Map.of());
            }
            // the CLI loads models: no scope around it
            CliRunner r = CliRunner.run("depth2img", "--model", model.toString(), "--quiet", "--init-image",
                    g.dir.resolve("init_image.png").toString(), "--depth-map", depth.toString(), "--strength", "0.7",
                    "--steps", "5", "--guidance-scale", "6", "--seed", "3", "--sampler", "PNDMScheduler",
                    "--negative-prompt", NEGATIVE, "--out", dir.resolve("d.png").toString(), "--save-latents", latents.toString(), PROMPT);
            assertEquals(0, r.exitCode(), r.err());
            try (SafetensorsFile f = SafetensorsFile.open(latents); PointerScope scope = new PointerScope()) {
                Golden.assertClose("cli depth2img initial_latents", f.load("initial_latents"), g.tensor("initial_latents"), 1e-4, 1e-5);
                Golden.assertClose("cli depth2img final_latents", f.load("final_latents"), g.tensor("final_latents"), 1e-4, 1e-5);
            }
            assertTrue(Files.exists(dir.resolve("d.png")));
        }
    }

    @Test
    void aSingleFileDepthCheckpointRunsWithTheDepthEstimatorNamedApart() throws Exception {
        Path file = dir.resolve("512-depth-tiny.safetensors");
        CliRunner convert = CliRunner.run("convert", "--to", "single-file", depthModel().toString(), file.toString());
        assertEquals(0, convert.exitCode(), convert.err());
        Path latents = dir.resolve("single.safetensors");
        try (Golden g = Golden.open("pipe_depth2img_estimated_depth")) {
            List<String> args = List.of("depth2img", "--model", file.toString(), "--quiet",
                    "--tokenizer", Golden.shared().resolve("clip-tokenizer/sd2").toString(),
                    "--init-image", g.dir.resolve("init_image.png").toString(), "--strength", "0.7",
                    "--steps", "5", "--guidance-scale", "6", "--seed", "3", "--sampler", "PNDMScheduler",
                    "--negative-prompt", NEGATIVE, "--out", dir.resolve("s.png").toString(), "--save-latents", latents.toString());
            List<String> withEstimator = new ArrayList<>(args);
            withEstimator.addAll(List.of("--depth-estimator", Golden.model("dpt-hybrid-tiny").toString(), PROMPT));
            CliRunner r = CliRunner.run(withEstimator.toArray(String[]::new));
            assertEquals(0, r.exitCode(), r.err());
            try (SafetensorsFile f = SafetensorsFile.open(latents); PointerScope scope = new PointerScope()) {
                Golden.assertClose("single-file depth2img final_latents", f.load("final_latents"), g.tensor("final_latents"), 1e-4, 1e-5);
            }
            List<String> without = new ArrayList<>(args);
            without.add(PROMPT);
            CliRunner missing = CliRunner.run(without.toArray(String[]::new));
            assertEquals(2, missing.exitCode());
            assertTrue(missing.err().strip().startsWith("error: 512-depth-tiny.safetensors is a single-file checkpoint: its depth_model.*"),
                    missing.err());
        }
    }

    @Test
    void depthWritesA16BitPngOfTheImagesSize() throws Exception {
        Path out = dir.resolve("depth.png");
        Path image = Golden.root().resolve("pipe_depth2img_estimated_depth/init_image.png");
        CliRunner r = CliRunner.run("depth", image.toString(), "--depth-estimator", Golden.model("dpt-hybrid-tiny").toString(),
                "--out", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        BufferedImage png = ImageIO.read(out.toFile());
        assertEquals(48, png.getWidth());
        assertEquals(32, png.getHeight());
        assertEquals(16, png.getColorModel().getPixelSize());
        int min = 65535, max = 0;
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 48; x++) {
                int v = png.getRaster().getSample(x, y, 0);
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
        }
        assertEquals(0, min);
        assertEquals(65535, max);
    }

    @Test
    void upscaleMatchesDiffusersAndRefusesANoiseLevelAbove350() throws Exception {
        Path tiny = Golden.model("sd-x4-upscaler-tiny");
        Path model = folder("StableDiffusionUpscalePipeline", Map.of("unet", tiny.resolve("unet"), "vae", tiny.resolve("vae"),
                "scheduler", tiny.resolve("scheduler"), "low_res_scheduler", tiny.resolve("low_res_scheduler"),
                "text_encoder", Golden.model("text-encoder-gelu"), "tokenizer", Golden.shared().resolve("clip-tokenizer/sd2")),
                ", \"max_noise_level\": 350");
        Path latents = dir.resolve("up.safetensors");
        try (Golden g = Golden.open("pipe_upscale_x4")) {
            List<String> args = new ArrayList<>(List.of("upscale", "--model", model.toString(), "--quiet", "--image",
                    g.dir.resolve("low_res.png").toString(), "--steps", "4", "--guidance-scale", "6", "--seed", "4",
                    "--negative-prompt", NEGATIVE, "--out", dir.resolve("u.png").toString(), "--save-latents", latents.toString(), PROMPT));
            CliRunner r = CliRunner.run(args.toArray(String[]::new));
            assertEquals(0, r.exitCode(), r.err());
            try (SafetensorsFile f = SafetensorsFile.open(latents); PointerScope scope = new PointerScope()) {
                Golden.assertClose("cli upscale final_latents", f.load("final_latents"), g.tensor("final_latents"), 1e-4, 1e-5);
            }
            assertEquals(96, ImageIO.read(dir.resolve("u.png").toFile()).getWidth());
        }
        CliRunner bad = CliRunner.run("upscale", "--model", model.toString(), "--image",
                Golden.root().resolve("pipe_upscale_x4/low_res.png").toString(), "--noise-level", "351", "x");
        assertEquals(2, bad.exitCode());
        assertEquals("error: --noise-level must be between 0 and 350, not 351", bad.err().strip());
    }

    @Test
    void txt2imgWithHiresFixIsRegeneratedByFrom() throws Exception {
        Path png = dir.resolve("hires.png");
        CliRunner r = CliRunner.run("txt2img", "--quiet", "--steps", "3", "--seed", "1", "--hires-scale", "2",
                "--hires-steps", "2", "--denoising-strength", "0.5", "--hires-upscaler", "Latent (bicubic)",
                "--out", png.toString(), "a green square on a white background");
        assertEquals(0, r.exitCode(), r.err());
        CliRunner info = CliRunner.run("info", png.toString());
        assertTrue(info.out().contains("Hires upscale: 2.0") && info.out().contains("Hires steps: 2")
                && info.out().contains("Hires upscaler: Latent (bicubic)") && info.out().contains("Denoising strength: 0.5"), info.out());
        Path again = dir.resolve("again.png");
        CliRunner from = CliRunner.run("txt2img", "--quiet", "--from", png.toString(), "--out", again.toString());
        assertEquals(0, from.exitCode(), from.err());
        BufferedImage a = ImageIO.read(png.toFile()), b = ImageIO.read(again.toFile());
        assertEquals(128, a.getWidth());
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) assertEquals(a.getRGB(x, y), b.getRGB(x, y));
        }
    }

    @Test
    void badInputGetsOneLineNamingTheOption() throws Exception {
        Path image = Golden.root().resolve("pipe_depth2img_estimated_depth/init_image.png");
        Path wrongShape = dir.resolve("wrong.safetensors");
        Path notAnImage = Files.writeString(dir.resolve("depth.png"), "not a png");
        try (PointerScope scope = new PointerScope()) {
            SafetensorsWriter.write(wrongShape, Map.of("depth", Tensors.fromFloats(new float[24], 2, 3, 4)), Map.of());
        }
        for (String[] c : new String[][] {
                {"depth2img", "--model", "unused", "--init-image", image.toString(), "--depth-map", wrongShape.toString(), "x"},
                {"depth2img", "--model", "unused", "--init-image", image.toString(), "--depth-map", notAnImage.toString(), "x"},
                {"txt2img", "--model", "unused", "--hires-scale", "2", "--hires-upscaler", "ESRGAN", "x"},
                {"txt2img", "--model", "unused", "--width", "4096", "--height", "4096", "--hires-scale", "4", "x"}}) {
            CliRunner r = CliRunner.run(c);
            assertEquals(2, r.exitCode(), String.join(" ", c) + ": " + r.err());
            String err = r.err().strip();
            assertEquals(1, err.lines().count(), err);
            assertTrue(err.startsWith("error: --depth-map") || err.startsWith("error: --hires-upscaler")
                    || err.startsWith("error: --hires-scale"), err);
            assertFalse(err.contains("Exception"), err);
        }
    }
}
