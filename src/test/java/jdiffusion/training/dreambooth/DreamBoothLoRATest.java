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

/** The paths that stand on LoRATraining and GradientCheckpointing. */
class DreamBoothLoRATest {
    @TempDir
    Path dir;

    private static DreamBooth.Result train(DreamBoothConfig c) {
        return DreamBooth.train(c, DreamBooth.Progress.NONE);
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

    /** LoRA under bf16 autocast: the frozen base in bf16 (as diffusers' weight_dtype), the adapters float32. */
    @Test
    void aBf16LoRARunTrainsAndSavesFloat32Adapters() throws Exception {
        DreamBoothConfig c = config("bf16").lora(true).rank(4).learningRate(DreamBoothConfig.LORA_LEARNING_RATE)
                .mixedPrecision(DreamBoothConfig.MixedPrecision.BF16).maxTrainSteps(3).build();
        DreamBooth.Result r = train(c);
        assertTrue(Double.isFinite(r.lastLoss()), "loss " + r.lastLoss());
        try (SafetensorsFile f = SafetensorsFile.open(r.output())) {
            String up = f.names().stream().filter(n -> n.endsWith(".lora.up.weight")).findFirst().orElseThrow();
            assertEquals("F32", f.info(up).dtype().name(), up);
            try (PointerScope scope = new PointerScope()) {
                assertTrue(f.load(up, ScalarType.Float).abs().max().item_double() > 0, "the up factors moved off zero");
            }
        }
    }
}
