package jdiffusion.training.dreambooth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;
import javax.imageio.ImageIO;
import jdiffusion.JDiffusionException;
import jdiffusion.training.TrainingConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The options' checks: each bad input gets a message that names the option and says what to do. */
class DreamBoothConfigTest {
    @TempDir
    Path dir;

    private DreamBoothConfig.Builder builder() {
        return DreamBoothConfig.builder("models/tiny-shapes", dir.resolve("instance"), "a sks shape", dir.resolve("out"));
    }

    private String error(UnaryOperator<DreamBoothConfig.Builder> change) {
        return assertThrows(JDiffusionException.class, () -> change.apply(builder()).build()).getMessage();
    }

    @Test
    void defaultsAreDiffusers() {
        DreamBoothConfig c = builder().build();
        assertEquals(5e-6, c.learningRate());
        assertEquals(100, c.numClassImages());
        assertEquals(1.0, c.priorLossWeight());
        assertEquals(TrainingConfig.LrSchedule.CONSTANT, c.lrScheduler());
        assertEquals(500, c.lrWarmupSteps());
        assertEquals(1.0, c.maxGradNorm());
        assertEquals(1e-2, c.adamWeightDecay());
        assertEquals(512, c.resolution());
        assertEquals(4, c.trainBatchSize());
        assertEquals(500, c.checkpointingSteps());
        assertEquals(100, c.validationSteps());
        assertEquals(4, c.rank());
    }

    @Test
    void constantIgnoresTheWarmUpAsDiffusersDoes() {
        TrainingConfig constant = builder().learningRate(1e-4).build().trainingConfig(10);
        assertEquals(1e-4, constant.learningRate(0));
        TrainingConfig warm = builder().learningRate(1e-4).lrScheduler(TrainingConfig.LrSchedule.CONSTANT_WITH_WARMUP)
                .lrWarmupSteps(4).build().trainingConfig(10);
        assertTrue(warm.learningRate(0) < 1e-4 / 2, "warm-up starts low: " + warm.learningRate(0));
        assertEquals(1e-4, warm.learningRate(5));
        assertEquals(TrainingConfig.LrSchedule.COSINE, TrainingConfig.LrSchedule.parse("cosine"));
        assertTrue(assertThrows(JDiffusionException.class, () -> TrainingConfig.LrSchedule.parse("linear"))
                .getMessage().contains("constant_with_warmup"));
    }

    @Test
    void priorPreservationNeedsClassDirAndPrompt() {
        assertTrue(error(b -> b.withPriorPreservation(true).classPrompt("a shape")).contains("--class-dir"));
        assertTrue(error(b -> b.withPriorPreservation(true).classDir(dir.resolve("c"))).contains("--class-prompt"));
        builder().withPriorPreservation(true).classDir(dir.resolve("c")).classPrompt("a shape").build();
    }

    @Test
    void fp16OnTheCpuSaysUseBf16() {
        String m = error(b -> b.mixedPrecision(DreamBoothConfig.MixedPrecision.FP16));
        assertTrue(m.contains("bf16") && m.contains("fp16"), m);
        assertEquals(DreamBoothConfig.MixedPrecision.BF16, DreamBoothConfig.MixedPrecision.parse("bf16"));
    }

    @Test
    void absurdValuesAreRefused() {
        assertTrue(error(b -> b.resolution(100)).contains("--resolution"));
        assertTrue(error(b -> b.trainBatchSize(0)).contains("--train-batch-size"));
        assertTrue(error(b -> b.learningRate(-1)).contains("--learning-rate"));
        assertTrue(error(b -> b.learningRate(Double.NaN)).contains("--learning-rate"));
        assertTrue(error(b -> b.gradientAccumulationSteps(0)).contains("--gradient-accumulation-steps"));
        assertTrue(error(b -> b.lora(true).rank(0)).contains("--rank"));
        assertTrue(error(b -> b.checkpointingSteps(0)).contains("--checkpointing-steps"));
        assertTrue(error(b -> b.maxGradNorm(-1)).contains("--max-grad-norm"));
        assertTrue(error(b -> b.resumeFromCheckpoint("yesterday")).contains("latest or checkpoint-N"));
        assertTrue(error(b -> b.withPriorPreservation(true).classDir(dir).classPrompt("x").numClassImages(0))
                .contains("--num-class-images"));
        assertTrue(error(b -> b.instancePrompt(" ")).contains("--instance-prompt"));
    }

    @Test
    void missingEmptyAndUnreadableInstanceFolders() throws Exception {
        DreamBoothConfig c = builder().build();
        assertTrue(assertThrows(JDiffusionException.class, c::checkInputs).getMessage().contains("is not a folder"));
        Files.createDirectories(c.instanceDir());
        Files.writeString(c.instanceDir().resolve("notes.txt"), "not an image");
        assertTrue(assertThrows(JDiffusionException.class, c::checkInputs).getMessage().contains("holds no images"));
        ImageIO.write(new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB), "png", c.instanceDir().resolve("a.png").toFile());
        c.checkInputs();
        Files.writeString(c.instanceDir().resolve("b.jpg"), "truncated");
        String m = assertThrows(JDiffusionException.class, c::checkInputs).getMessage();
        assertTrue(m.contains("b.jpg"), m);
    }

    @Test
    void imageFilesSortNumericPrefixesAsNumbers() throws Exception {
        for (String name : List.of("10-b.jpg", "9-a.jpg", "x.png", "readme.md")) Files.writeString(dir.resolve(name), "");
        assertEquals(List.of("9-a.jpg", "10-b.jpg", "x.png"),
                DreamBoothConfig.imageFiles(dir).stream().map(p -> p.getFileName().toString()).toList());
    }
}
