package jdiffusion.training.pixel;

import jdiffusion.training.TrainingConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import jdiffusion.Golden;
import jdiffusion.cli.CliRunner;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** finetune-ddpm end to end on the tiny DDPM: output folder, sample grids, exact resume, one-line errors. */
class DDPMFineTuneTest {
    static Path redSquares(Path dir, int count) throws Exception {
        Files.createDirectories(dir);
        for (int i = 0; i < count; i++) {
            BufferedImage img = new BufferedImage(40, 36, BufferedImage.TYPE_INT_RGB);
            var g = img.createGraphics();
            g.setColor(new Color(220, 20 + 10 * i, 30));
            g.fillRect(0, 0, 40, 36);
            g.dispose();
            ImageIO.write(img, "png", dir.resolve(i + ".png").toFile());
        }
        return dir;
    }

    private static CliRunner finetune(Path data, Path out, int steps, String... extra) {
        String[] base = {"finetune-ddpm", "--model", Golden.model("ddpm-tiny-pipeline").toString(), "--data", data.toString(),
                "--resolution", "32", "--batch-size", "2", "--grad-accumulation", "2", "--lr", "1e-3",
                "--steps", Integer.toString(steps), "--out", out.toString(), "--sample-every", "2", "--checkpoint-every", "2"};
        String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return CliRunner.run(args);
    }

    @Test
    void writesADiffusersFolderAndResumesExactly(@TempDir Path dir) throws Exception {
        Path data = redSquares(dir.resolve("data"), 5);
        Path straight = dir.resolve("straight");
        CliRunner a = finetune(data, straight, 4);
        assertEquals(0, a.exitCode(), a.err());
        assertTrue(Files.isRegularFile(straight.resolve("model_index.json")));
        assertTrue(Files.isRegularFile(straight.resolve("scheduler/scheduler_config.json")));
        assertTrue(Files.isRegularFile(straight.resolve("samples/step-2.png")));
        assertTrue(Files.isRegularFile(straight.resolve("samples/step-4.png")));

        Path resumed = dir.resolve("resumed");
        assertEquals(0, finetune(data, resumed, 2).exitCode());
        CliRunner b = finetune(data, resumed, 4, "--resume");
        assertEquals(0, b.exitCode(), b.err());

        String weights = "unet/diffusion_pytorch_model.safetensors";
        try (var x = SafetensorsFile.open(straight.resolve(weights)); var y = SafetensorsFile.open(resumed.resolve(weights));
             var base = SafetensorsFile.open(Golden.model("ddpm-tiny-pipeline").resolve(weights));
             var scope = new PointerScope()) {
            double moved = 0;
            for (String name : x.names()) {
                assertEquals(0.0, Tensors.maxAbsDiff(x.load(name), y.load(name)), name + " differs after resuming");
                moved = Math.max(moved, Tensors.maxAbsDiff(x.load(name), base.load(name)));
            }
            assertTrue(moved > 1e-4, "training did not change the weights");
        }
        // the output loads as a pipeline and samples
        assertEquals(0, CliRunner.run("sample", "--model", straight.toString(), "--sampler", "DDIM", "--steps", "2",
                "--num-images", "1", "--seed", "1", "--out", dir.resolve("s.png").toString()).exitCode());
    }

    @Test
    void aClassConditionedModelIsFineTunedAsOneClass(@TempDir Path dir) throws Exception {
        var config = new ClassConditionedTraining.Config(dir, 1, 0, 8, 1e-3, dir, 5, 0, 0, false, List.of(8, 16, 16), 1, 4, false,
                TrainingConfig.LrSchedule.CONSTANT, 0, 0, 1, 0);
        Path model = dir.resolve("class-model");
        try (var net = ClassConditionedTraining.newModel(config, 1, 16, 16)) {
            PixelPipelineWriter.write(model, net, ClassConditionedTraining.SCHEDULER_JSON);
        }
        Path data = redSquares(dir.resolve("data"), 3);
        String[] base = {"finetune-ddpm", "--model", model.toString(), "--data", data.toString(), "--resolution", "16",
                "--batch-size", "2", "--grad-accumulation", "1", "--lr", "1e-2", "--steps", "3", "--sample-every", "3"};
        CliRunner ok = CliRunner.run(concat(base, "--out", dir.resolve("tuned").toString(), "--class-label", "3"));
        assertEquals(0, ok.exitCode(), ok.err());
        assertTrue(Files.isRegularFile(dir.resolve("tuned/unet").resolve(jdiffusion.models.unet2d.ClassConditionedUnet.CLASS_EMB_FILE)));
        assertTrue(Files.isRegularFile(dir.resolve("tuned/samples/step-3.png")));
        // only the taught class's row of the class table learns; the others only shrink by AdamW's decoupled
        // weight decay, (1 - lr * 0.01) per step
        float[] before = classTable(model), after = classTable(dir.resolve("tuned"));
        double decay = Math.pow(1 - 1e-2 * 0.01, 3);
        for (int c = 0; c < 10; c++) {
            double moved = 0;
            for (int k = 0; k < 4; k++) moved = Math.max(moved, Math.abs(after[c * 4 + k] - before[c * 4 + k] * decay));
            if (c == 3) assertTrue(moved > 1e-3, "class 3 moved " + moved);
            else assertTrue(moved < 1e-6, "class " + c + " moved " + moved);
        }

        for (String[] extra : new String[][] {{"--out", dir.resolve("o1").toString()},
                {"--out", dir.resolve("o2").toString(), "--class-label", "10"}}) {
            CliRunner bad = CliRunner.run(concat(base, extra));
            assertEquals(2, bad.exitCode(), bad.err());
            assertTrue(bad.err().startsWith("error: ") && bad.err().strip().lines().count() == 1, bad.err());
        }
        CliRunner unconditional = finetune(data, dir.resolve("o3"), 2, "--class-label", "1");
        assertEquals(2, unconditional.exitCode());
        assertTrue(unconditional.err().contains("not class-conditioned"), unconditional.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static float[] classTable(Path model) {
        try (var f = jdiffusion.io.SafetensorsFile.open(model.resolve("unet").resolve(jdiffusion.models.unet2d.ClassConditionedUnet.CLASS_EMB_FILE));
             var scope = new org.bytedeco.javacpp.PointerScope()) {
            return jdiffusion.tensor.Tensors.toFloats(f.load("class_emb.weight"));
        }
    }

    @Test
    void badInputIsOneLine(@TempDir Path dir) throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        for (CliRunner r : new CliRunner[] {finetune(empty, dir.resolve("o1"), 2),
                finetune(redSquares(dir.resolve("d"), 1), dir.resolve("o2"), 0),
                CliRunner.run("finetune-ddpm", "--model", dir.toString(), "--data", empty.toString(), "--out", dir.resolve("o3").toString())}) {
            assertEquals(2, r.exitCode(), r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, r.err());
        }
    }
}
