package jdiffusion.training.dreambooth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import jdiffusion.image.PngWriter;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.tools.shapes.Colour;
import jdiffusion.tools.shapes.Jitter;
import jdiffusion.tools.shapes.Position;
import jdiffusion.tools.shapes.Shape;
import jdiffusion.tools.shapes.ShapeRenderer;
import jdiffusion.tools.shapes.ShapeScene;
import jdiffusion.tools.shapes.Size;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DreamBooth on the shipped tiny model (64x64): a few steps each, seconds per test. */
class DreamBoothTrainingTest {
    static final String MODEL = "models/tiny-shapes";

    @TempDir
    Path dir;

    /** Five stars in one fixed style: the instance images of the experiment. */
    static Path instances(Path dir) {
        Path folder = dir.resolve("instance");
        Position[] positions = Position.values();
        for (int i = 0; i < 5; i++) {
            ShapeScene s = new ShapeScene(Shape.STAR, Colour.YELLOW, Colour.BLUE, positions[i], Size.LARGE);
            PngWriter.write(folder.resolve("star-" + i + ".png"), ShapeRenderer.render(s, Jitter.NONE), "caption", s.toString());
        }
        return folder;
    }

    /** Two hand-made class images, so that no test waits for generation it does not test. */
    static Path classImages(Path dir) {
        Path folder = dir.resolve("class");
        for (int i = 0; i < 2; i++) {
            ShapeScene s = new ShapeScene(Shape.values()[i], Colour.RED, Colour.WHITE, Position.CENTRE, Size.SMALL);
            PngWriter.write(folder.resolve(i + "-hand.png"), ShapeRenderer.render(s, Jitter.NONE), "caption", s.toString());
        }
        return folder;
    }

    DreamBoothConfig.Builder config(String out) {
        return DreamBoothConfig.builder(MODEL, instances(dir), "a sks shape", dir.resolve(out))
                .resolution(64).trainBatchSize(1).learningRate(1e-4).checkpointingSteps(1000);
    }

    @Test
    void priorPreservationLossIsInstancePlusWeightedClass() {
        try (PointerScope scope = new PointerScope()) {
            // pred - target: instance half [1, 1, 1, 3] -> mse (1+1+1+9)/4 = 3; class half [2, 0, 0, 0] -> mse 1
            Tensor pred = Tensors.fromFloats(new float[] {1, 1, 1, 3, 2, 0, 0, 0}, 2, 1, 2, 2);
            Tensor target = Tensors.fromFloats(new float[8], 2, 1, 2, 2);
            assertEquals(3 + 0.5 * 1, DreamBoothObjective.priorPreservationLoss(pred, target, 0.5).item_double(), 1e-6);
            assertEquals(3 + 2 * 1, DreamBoothObjective.priorPreservationLoss(pred, target, 2).item_double(), 1e-6);
        }
    }

    @Test
    void aFewFullFineTuneStepsLowerTheLossOnTheInstanceBatch() {
        DreamBoothConfig c = config("unused").build();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(MODEL, PipelineOptions.defaults())) {
            DreamBoothDataset data = new DreamBoothDataset(c, pipe.tokenizer());
            DDPMScheduler ddpm = (DDPMScheduler) Schedulers.create("DDPMScheduler", pipe.schedulerConfig(), Map.of());
            DreamBoothObjective objective = new DreamBoothObjective(pipe.unet(), pipe.textEncoder(), pipe.vae(), ddpm,
                    false, false, 1.0);
            // the same images, noise and timesteps at every step, so the losses compare
            Trainer.Objective fixed = (step, micro, rng) -> objective.loss(data.batch(0, 0), new TorchGenerator(7));
            double[] first = {Double.NaN};
            TrainingConfig t = new TrainingConfig(20, 3e-4, 0, TrainingConfig.LrSchedule.CONSTANT, 1, 1.0, 1e-2, 0,
                    false, 0, 0);
            try (Trainer trainer = new Trainer(t, ModuleTensors.parameters(pipe.unet(), "unet."), null)) {
                double last = trainer.run(fixed, (step, total, loss, lr) -> {
                    if (step == 0) first[0] = loss;
                });
                assertTrue(last < 0.7 * first[0], "loss " + first[0] + " -> " + last);
            }
        }
    }

    @Test
    void resumingFromTheLatestCheckpointEndsWhereAnUninterruptedRunEnds() throws Exception {
        Path classes = classImages(dir);
        DreamBoothConfig.Builder b = config("straight").withPriorPreservation(true).classDir(classes)
                .classPrompt("a shape").numClassImages(2).checkpointingSteps(2).maxTrainSteps(4).randomFlip(true);
        DreamBooth.train(b.build(), DreamBooth.Progress.NONE);

        Path out = dir.resolve("resumed");
        DreamBooth.train(b.outputDir(out).maxTrainSteps(2).build(), DreamBooth.Progress.NONE); // "stopped" after step 2
        assertTrue(Files.isDirectory(out.resolve("checkpoint-2")));
        List<Integer> stepsRun = new java.util.ArrayList<>();
        DreamBooth.train(b.outputDir(out).maxTrainSteps(4).resumeFromCheckpoint("latest").build(), new DreamBooth.Progress() {
            @Override
            public void step(int step, int totalSteps, double loss, double learningRate) {
                stepsRun.add(step);
            }
        });
        assertEquals(List.of(2, 3), stepsRun, "the resumed run continues after checkpoint-2");

        Path straight = dir.resolve("straight/unet/diffusion_pytorch_model.safetensors");
        Path resumed = out.resolve("unet/diffusion_pytorch_model.safetensors");
        try (SafetensorsFile a = SafetensorsFile.open(straight); SafetensorsFile r = SafetensorsFile.open(resumed);
             PointerScope scope = new PointerScope()) {
            for (String key : a.names()) {
                double diff = Tensors.maxAbsDiff(a.load(key, ScalarType.Float), r.load(key, ScalarType.Float));
                assertTrue(diff <= 1e-6, key + " differs by " + diff + " between the straight and the resumed run");
            }
        }
        assertFalse(Files.exists(out.resolve(DreamBooth.WORK_STATE)), "the working state is removed at the end");
        String missing = org.junit.jupiter.api.Assertions.assertThrows(jdiffusion.JDiffusionException.class,
                () -> Checkpoints.find(out, "checkpoint-99")).getMessage();
        assertTrue(missing.contains("checkpoint-2") && missing.contains("checkpoint-99"), missing);
    }

    @Test
    void theFullOutputFolderLoadsAndGenerates() throws Exception {
        DreamBoothConfig c = config("out").maxTrainSteps(3).trainTextEncoder(true).checkpointingSteps(1)
                .checkpointsTotalLimit(2).validationPrompt("a sks shape").validationSteps(2).numValidationImages(2)
                .build();
        DreamBooth.Result r = DreamBooth.train(c, DreamBooth.Progress.NONE);
        Path out = dir.resolve("out");
        assertEquals(out.toAbsolutePath().normalize(), r.output());
        for (String f : List.of("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors", "tokenizer/vocab.json",
                "scheduler/scheduler_config.json", "validation/step-000002-0.png", "validation/step-000002-1.png")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        // --checkpoints-total-limit 2: checkpoint-1 was removed before checkpoint-3 was written
        assertEquals(List.of("checkpoint-2", "checkpoint-3"),
                Checkpoints.list(out).stream().map(p -> p.getFileName().toString()).toList());
        assertTrue(Files.isRegularFile(out.resolve("checkpoint-3/text_encoder/model.safetensors")));
        try (SafetensorsFile trained = SafetensorsFile.open(out.resolve("unet/diffusion_pytorch_model.safetensors"));
             SafetensorsFile base = SafetensorsFile.open(Path.of(MODEL, "unet/diffusion_pytorch_model.safetensors"));
             PointerScope scope = new PointerScope()) {
            assertEquals(base.names(), trained.names());
            assertTrue(Tensors.maxAbsDiff(base.load("conv_in.weight", ScalarType.Float),
                    trained.load("conv_in.weight", ScalarType.Float)) > 0, "the UNet was trained");
        }
        assertEquals(-1L, Files.mismatch(out.resolve("vae/diffusion_pytorch_model.safetensors"),
                Path.of(MODEL, "vae/diffusion_pytorch_model.safetensors")), "the VAE is the base model's");
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(out.toString(), PipelineOptions.defaults())) {
            BufferedImage img = pipe.generate(GenerationRequest.builder("a sks shape").steps(4).seed(1).build())
                    .images().getFirst();
            assertEquals(64, img.getWidth());
        }
    }
}
