package jdiffusion.training.dreambooth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.cli.CliRunner;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The paths that stand on LoRATraining and GradientCheckpointing, written in parallel. Until they
 * land, those APIs throw UnsupportedOperationException and these tests are reported as skipped
 * (aborted, with the reason), so the suite stays green; once they land the tests run as written.
 */
class DreamBoothLoRATest {
    @TempDir
    Path dir;

    /** Runs a training; a stub API aborts the test (skipped, not passed). */
    private static DreamBooth.Result train(DreamBoothConfig c) {
        try {
            return DreamBooth.train(c, DreamBooth.Progress.NONE);
        } catch (UnsupportedOperationException e) {
            return org.junit.jupiter.api.Assumptions.abort("waits for an API still being written: " + e.getMessage());
        }
    }

    private DreamBoothConfig.Builder config(String out) {
        return DreamBoothConfig.builder(DreamBoothTrainingTest.MODEL, DreamBoothTrainingTest.instances(dir), "a sks shape",
                dir.resolve(out)).resolution(64).trainBatchSize(1).checkpointingSteps(1000);
    }

    @Test
    void aLoRARunWritesAFileThatLoraLoads() throws Exception {
        Path classes = DreamBoothTrainingTest.classImages(dir);
        DreamBoothConfig c = config("lora").lora(true).rank(4).learningRate(DreamBoothConfig.LORA_LEARNING_RATE)
                .trainTextEncoder(true).withPriorPreservation(true).classDir(classes).classPrompt("a shape")
                .numClassImages(2).maxTrainSteps(4).checkpointingSteps(2).build();
        DreamBooth.Result r = train(c);
        Path file = dir.resolve("lora").resolve(DreamBooth.LORA_FILE);
        assertEquals(file.toAbsolutePath().normalize(), r.output());
        assertTrue(Files.isRegularFile(file));
        assertTrue(Files.isRegularFile(dir.resolve("lora/checkpoint-4").resolve(DreamBooth.LORA_FILE)));
        assertFalse(Files.exists(dir.resolve("lora/unet")), "a LoRA run writes no full model");
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertTrue(f.names().stream().anyMatch(n -> n.startsWith("unet.") && n.contains("lora")), f.names().toString());
            assertTrue(f.names().stream().anyMatch(n -> n.startsWith("text_encoder.")), f.names().toString());
        }
        Path png = dir.resolve("a.png");
        CliRunner gen = CliRunner.run("txt2img", "--model", DreamBoothTrainingTest.MODEL, "--quiet", "--steps", "3",
                "--lora", file + ":0.8", "--out", png.toString(), "a sks shape");
        assertEquals(0, gen.exitCode(), gen.err());
        assertTrue(Files.isRegularFile(png));

        // resuming a LoRA run continues from its adapters
        DreamBooth.Result resumed = train(c.toBuilder().maxTrainSteps(6).resumeFromCheckpoint("latest").build());
        assertEquals(6, resumed.steps());
    }

    @Test
    void gradientCheckpointingGivesTheSameLossAndWeights() {
        DreamBoothConfig plain = config("plain").maxTrainSteps(3).learningRate(1e-4).trainTextEncoder(true).build();
        DreamBoothConfig checkpointed = plain.toBuilder().outputDir(dir.resolve("ckpt")).gradientCheckpointing(true).build();
        double a = DreamBooth.train(plain, DreamBooth.Progress.NONE).lastLoss();
        double b = train(checkpointed).lastLoss();
        assertEquals(a, b, 1e-5 * Math.abs(a), "last loss without and with gradient checkpointing");
        try (SafetensorsFile x = SafetensorsFile.open(dir.resolve("plain/unet/diffusion_pytorch_model.safetensors"));
             SafetensorsFile y = SafetensorsFile.open(dir.resolve("ckpt/unet/diffusion_pytorch_model.safetensors"));
             PointerScope scope = new PointerScope()) {
            for (String k : x.names()) {
                double d = Tensors.maxAbsDiff(x.load(k, ScalarType.Float), y.load(k, ScalarType.Float));
                assertTrue(d < 1e-5, k + " differs by " + d);
            }
        }
    }
}
