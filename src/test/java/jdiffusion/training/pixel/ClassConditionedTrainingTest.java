package jdiffusion.training.pixel;

import jdiffusion.training.TrainingConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.cli.CliRunner;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.pipelines.DDIMPipeline;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train-class-conditioned on small IDX files written here: output folder, exact resume, errors. */
class ClassConditionedTrainingTest {
    private static ClassConditionedTraining.Config small(Path data, Path out, int epochs, boolean resume) {
        // the notebook's layout at a quarter of its widths, so the test runs in seconds
        return new ClassConditionedTraining.Config(data, epochs, 24, 8, 1e-3, out, 3, 0.9, 2, resume, List.of(8, 16, 16), 1, 4, false,
                TrainingConfig.LrSchedule.CONSTANT, 0, 0, 1, 0);
    }

    @Test
    void theClassTableStartsAsPyTorchsEmbeddingDoes() {
        // nn.Embedding's N(0, 1); a linear layer's +-1/sqrt(size) bound would give std 0.07 here
        var config = new ClassConditionedTraining.Config(Path.of("unused"), 1, 0, 8, 1e-3, Path.of("unused"), 7, 0, 0, false,
                List.of(8, 16, 16), 1, 64, false, TrainingConfig.LrSchedule.CONSTANT, 0, 0, 1, 0);
        try (var net = ClassConditionedTraining.newModel(config, 1, 8, 8); PointerScope scope = new PointerScope()) {
            float[] table = Tensors.toFloats(net.classEmbeddingTable());
            assertEquals(10 * 64, table.length);
            double sum = 0, sq = 0;
            for (float v : table) {
                sum += v;
                sq += v * v;
            }
            double mean = sum / table.length, std = Math.sqrt(sq / table.length - mean * mean);
            assertTrue(Math.abs(mean) < 0.15 && std > 0.9 && std < 1.1, "mean " + mean + ", std " + std);
        }
    }

    @Test
    void resumingContinuesExactlyAndTheOutputSamples(@TempDir Path dir) throws Exception {
        Path data = IdxFiles.fashionLike(dir.resolve("data"), "train", 30);
        Path straight = dir.resolve("straight");
        ClassConditionedTraining.run(small(data, straight, 2, false), ClassConditionedTraining.Listener.NONE);
        Path resumed = dir.resolve("resumed");
        ClassConditionedTraining.run(small(data, resumed, 1, false), ClassConditionedTraining.Listener.NONE);
        ClassConditionedTraining.run(small(data, resumed, 2, true), ClassConditionedTraining.Listener.NONE);
        for (String file : new String[] {"unet/diffusion_pytorch_model.safetensors", "unet/class_emb.safetensors"}) {
            try (var a = SafetensorsFile.open(straight.resolve(file)); var b = SafetensorsFile.open(resumed.resolve(file));
                 var scope = new PointerScope()) {
                for (String name : a.names()) {
                    assertEquals(0.0, Tensors.maxAbsDiff(a.load(name), b.load(name)), file + " " + name + " differs after resuming");
                }
            }
        }
        // the folder's sampler does not clip x0 (ClassConditionedTraining.SCHEDULER_JSON says why)
        try (DDIMPipeline pipe = DDIMPipeline.fromPretrained(straight, 0.0)) {
            assertFalse(pipe.scheduler().config().clipSample());
        }
        CliRunner r = CliRunner.run("sample", "--model", straight.toString(), "--class-label", "9", "--sampler", "DDIM",
                "--steps", "3", "--num-images", "2", "--seed", "0", "--out", dir.resolve("s.png").toString());
        assertEquals(0, r.exitCode(), r.err());
        CliRunner bad = CliRunner.run("sample", "--model", straight.toString(), "--class-label", "10", "--out", dir.resolve("t.png").toString());
        assertEquals("error: class label 10 is out of range: the model knows 10 classes, 0 to 9", bad.err().strip());
    }

    @Test
    void microBatchesOnTwoWorkersGiveWhatOneWorkerGivesAndTheRecipeOptionsTakeEffect(@TempDir Path dir) throws Exception {
        Path data = IdxFiles.fashionLike(dir.resolve("data"), "train", 30);
        java.util.function.BiFunction<Path, Double, ClassConditionedTraining.Config> recipe = (out, gamma) ->
                new ClassConditionedTraining.Config(data, 2, 24, 8, 2e-3, out, 3, 0.9, 0, false, List.of(8, 16, 16), 1, 4, false,
                        TrainingConfig.LrSchedule.COSINE, 2, gamma, 2, 0);
        ClassConditionedTraining.run(recipe.apply(dir.resolve("one"), 5.0), 1, ClassConditionedTraining.Listener.NONE);
        ClassConditionedTraining.run(recipe.apply(dir.resolve("two"), 5.0), 2, ClassConditionedTraining.Listener.NONE);
        ClassConditionedTraining.run(recipe.apply(dir.resolve("plain"), 0.0), 2, ClassConditionedTraining.Listener.NONE);
        String file = "unet/diffusion_pytorch_model.safetensors";
        try (var one = SafetensorsFile.open(dir.resolve("one").resolve(file)); var two = SafetensorsFile.open(dir.resolve("two").resolve(file));
             var plain = SafetensorsFile.open(dir.resolve("plain").resolve(file)); var scope = new PointerScope()) {
            double fromGamma = 0;
            for (String name : one.names()) {
                assertEquals(0.0, Tensors.maxAbsDiff(one.load(name), two.load(name)), name + " depends on the number of workers");
                fromGamma = Math.max(fromGamma, Tensors.maxAbsDiff(one.load(name), plain.load(name)));
            }
            assertTrue(fromGamma > 1e-4, "--snr-gamma changed nothing");
        }
        // 29 images in batches of 8, four micro-batches: the last batch (5 images) splits as 1, 1, 1, 2, none empty
        var uneven = new ClassConditionedTraining.Config(data, 1, 29, 8, 1e-3, dir.resolve("uneven"), 3, 0, 0, false, List.of(8, 16, 16),
                1, 4, false, TrainingConfig.LrSchedule.CONSTANT, 0, 0, 4, 0);
        double loss = ClassConditionedTraining.run(uneven, ClassConditionedTraining.Listener.NONE);
        assertTrue(Double.isFinite(loss), "an empty micro-batch gave a loss of " + loss);
        // 25 images in batches of 8: the last batch (1 image) cannot be split in two
        var odd = new ClassConditionedTraining.Config(data, 1, 25, 8, 1e-3, dir.resolve("odd"), 3, 0, 0, false, List.of(8, 16, 16), 1,
                4, false, TrainingConfig.LrSchedule.CONSTANT, 0, 0, 2, 0);
        var e = org.junit.jupiter.api.Assertions.assertThrows(jdiffusion.JDiffusionException.class,
                () -> ClassConditionedTraining.run(odd, ClassConditionedTraining.Listener.NONE));
        assertTrue(e.getMessage().contains("last batch has 1 image"), e.getMessage());
    }

    @Test
    void theCommandTrainsAndRefusesBadInput(@TempDir Path dir) throws Exception {
        Path data = IdxFiles.fashionLike(dir.resolve("data"), "train", 16);
        Path out = dir.resolve("out");
        CliRunner ok = CliRunner.run("train-class-conditioned", "--data", data.toString(), "--epochs", "1", "--batch-size", "8",
                "--out", out.toString());
        assertEquals(0, ok.exitCode(), ok.err());
        assertTrue(Files.isRegularFile(out.resolve("unet/class_emb.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("model_index.json")));
        // classifier-free guidance: refused for the notebook's net, drawn from one trained with class dropout
        CliRunner unguidable = CliRunner.run("sample", "--model", out.toString(), "--class-label", "3", "--guidance-scale", "2",
                "--steps", "2", "--out", dir.resolve("g.png").toString());
        assertEquals(2, unguidable.exitCode(), unguidable.err());
        assertTrue(unguidable.err().strip().lines().count() == 1 && unguidable.err().contains("--class-dropout"), unguidable.err());
        Path dropout = dir.resolve("dropout");
        CliRunner trained = CliRunner.run("train-class-conditioned", "--data", data.toString(), "--epochs", "1", "--batch-size", "8",
                "--class-dropout", "0.5", "--out", dropout.toString());
        assertEquals(0, trained.exitCode(), trained.err());
        try (var unet = jdiffusion.models.unet2d.PixelDenoiser.load(dropout.resolve("unet"), org.bytedeco.pytorch.global.torch.ScalarType.Float,
                Tensors.CPU); var plain = jdiffusion.models.unet2d.PixelDenoiser.load(out.resolve("unet"),
                org.bytedeco.pytorch.global.torch.ScalarType.Float, Tensors.CPU)) {
            assertTrue(unet.learnsNoClass() && !plain.learnsNoClass(), "the class-dropout flag did not survive saving");
        }
        CliRunner guided = CliRunner.run("sample", "--model", dropout.toString(), "--class-label", "3", "--guidance-scale", "2",
                "--steps", "2", "--out", dir.resolve("g.png").toString());
        assertEquals(0, guided.exitCode(), guided.err());
        assertTrue(Files.isRegularFile(dir.resolve("g.png")));
        for (String[] args : new String[][] {
                {"train-class-conditioned", "--data", dir.resolve("none").toString(), "--epochs", "1", "--out", dir.resolve("o").toString()},
                {"train-class-conditioned", "--data", data.toString(), "--epochs", "0", "--out", dir.resolve("o").toString()},
                {"train-class-conditioned", "--data", dir.toString(), "--epochs", "1", "--out", dir.resolve("o").toString()},
                {"train-class-conditioned", "--data", data.toString(), "--epochs", "1", "--lr-scheduler", "linear", "--out", dir.resolve("o").toString()},
                {"train-class-conditioned", "--data", data.toString(), "--epochs", "1", "--snr-gamma", "-1", "--out", dir.resolve("o").toString()},
                {"train-class-conditioned", "--data", data.toString(), "--epochs", "1", "--micro-batches", "0", "--out", dir.resolve("o").toString()},
                {"train-class-conditioned", "--data", data.toString(), "--epochs", "1", "--class-dropout", "1", "--out", dir.resolve("o").toString()},
                {"train-class-conditioned", "--data", data.toString(), "--epochs", "1", "--workers", "0", "--micro-batches", "2", "--out", dir.resolve("o").toString()}}) {
            CliRunner r = CliRunner.run(args);
            assertEquals(2, r.exitCode(), r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, r.err());
        }
    }
}
