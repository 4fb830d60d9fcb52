package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import jdiffusion.Golden;
import jdiffusion.io.SafetensorsFile;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code jdiffusion sample} end to end: the tensors it saves are diffusers' pipeline output. */
class SampleCommandTest {
    @ParameterizedTest
    @ValueSource(strings = {"pipe_ddpm_uncond", "pipe_ddim_uncond_eta1"})
    void savedTensorsAreDiffusersOutput(String caseName, @TempDir Path dir) throws Exception {
        try (Golden g = Golden.open(caseName)) {
            JsonNode kw = g.json.get("call_kwargs");
            boolean ddim = "DDIMPipeline".equals(g.json.get("pipeline_class").asText());
            Path grid = dir.resolve("grid.png");
            Path tensors = dir.resolve("out.safetensors");
            CliRunner r = CliRunner.run("sample", "--model",
                    Golden.root().resolve(g.json.get("pipeline_folder").asText().split(" ")[0]).toString(),
                    "--sampler", ddim ? "DDIM" : "DDPM", "--eta", kw.path("eta").asText("0"),
                    "--steps", kw.get("num_inference_steps").asText(), "--num-images", kw.get("batch_size").asText(),
                    "--seed", g.json.get("generator_seed").asText(), "--out", grid.toString(),
                    "--save-tensors", tensors.toString());
            assertEquals(0, r.exitCode(), r.err());
            try (var file = SafetensorsFile.open(tensors); var scope = new PointerScope()) {
                Golden.assertClose(caseName + " initial_noise", file.load("initial_noise"), g.tensor("initial_noise"), 0, 1e-5);
                Golden.assertClose(caseName + " images", file.load("images"), g.tensor("image"), 0, 1e-3);
            }
            BufferedImage img = ImageIO.read(grid.toFile());
            assertEquals(2 * 32, img.getWidth()); // two images side by side
            assertEquals(32, img.getHeight());
        }
    }

    @Test
    void badInputIsOneLineAndWritesNothing(@TempDir Path dir) {
        String model = Golden.model("ddpm-tiny-pipeline").toString();
        Path grid = dir.resolve("g.png");
        String[][] cases = {
                {"sample", "--model", model, "--class-label", "3", "--out", grid.toString()},
                {"sample", "--model", dir.resolve("missing").toString(), "--out", grid.toString()},
                {"sample", "--model", model, "--steps", "0", "--out", grid.toString()},
                {"sample", "--model", model, "--steps", "5000", "--out", grid.toString()},
                {"sample", "--model", model, "--sampler", "Euler", "--out", grid.toString()},
                {"sample", "--model", model, "--num-images", "0", "--out", grid.toString()},
                {"sample", "--model", model, "--guide-color", "green", "--out", grid.toString()},
                {"sample", "--model", Golden.model("unet2d-class-embeds-tiny").toString(), "--out", grid.toString()},
        };
        for (String[] args : cases) {
            CliRunner r = CliRunner.run(args);
            assertEquals(2, r.exitCode(), String.join(" ", args) + "\n" + r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, r.err());
        }
        assertFalse(Files.exists(grid));
    }

    /** CLIP guidance through the CLI: the CLIP score of the samples to the prompt rises with the guidance scale. */
    @Test
    void clipGuidanceRaisesTheClipScore(@TempDir Path dir) throws Exception {
        String model = Golden.model("ddpm-tiny-pipeline").toString();
        String clip = Golden.model("clip-tiny").toString();
        String tokenizer = Golden.shared().resolve("clip-tokenizer/sd1").toString();
        double[] score = new double[2];
        String[] scales = {"0", "400"};
        for (int i = 0; i < 2; i++) {
            CliRunner r = CliRunner.run("sample", "--model", model, "--sampler", "DDIM", "--steps", "6", "--num-images", "2",
                    "--seed", "3", "--out", dir.resolve("c" + i + ".png").toString(), "--clip-model", clip,
                    "--clip-tokenizer", tokenizer, "--guide-prompt", "a photo of a cat", "--guide-scale", scales[i]);
            assertEquals(0, r.exitCode(), r.err());
            String line = r.out().lines().filter(l -> l.startsWith("CLIP score")).findFirst().orElseThrow();
            score[i] = Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            System.out.println("guide scale " + scales[i] + ": " + line);
        }
        assertTrue(score[1] > score[0] + 0.1, "CLIP score " + score[0] + " -> " + score[1]);

        for (String[] args : new String[][] {
                {"sample", "--model", model, "--clip-model", clip, "--out", dir.resolve("x.png").toString()},
                {"sample", "--model", model, "--clip-model", Golden.model("sd1-tiny-pipeline/text_encoder").toString(),
                        "--guide-prompt", "cat", "--out", dir.resolve("x.png").toString()}}) {
            CliRunner r = CliRunner.run(args);
            assertEquals(2, r.exitCode(), r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, r.err());
        }
    }
}
