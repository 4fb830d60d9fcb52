package jdiffusion.training.dreambooth;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.image.PngWriter;
import jdiffusion.io.AtomicFiles;
import jdiffusion.io.ModelFolder;
import jdiffusion.lora.LoRATraining;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.training.PipelineWriter;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import org.bytedeco.pytorch.Tensor;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers' train_dreambooth.py (full fine-tune) and train_dreambooth_lora.py (LoRA) on the CPU:
 * <ol>
 *   <li>load the base model (float32);</li>
 *   <li>with prior preservation, generate the missing class images with it;</li>
 *   <li>train the UNet (and the text encoder) in full, or LoRA adapters only, on instance (+ class)
 *       batches with the {@link DreamBoothObjective}; the VAE stays frozen;</li>
 *   <li>every {@code checkpointingSteps} write {@code checkpoint-N}; every {@code validationSteps}
 *       draw the validation prompt into {@code validation/} (DPM-Solver++ 2M, 25 steps, as diffusers);</li>
 *   <li>write the result: a diffusers folder (the trained unet/ and text_encoder/ and the base
 *       model's other components) or {@code pytorch_lora_weights.safetensors}.</li>
 * </ol>
 * Build nothing inside a PointerScope around this: it loads models.
 */
public final class DreamBooth {
    /** What a run reports as it goes. */
    public interface Progress {
        default void message(String text) {}

        default void classImage(int done, int total) {}

        /** After each optimiser step ({@code step} 0-based). */
        default void step(int step, int totalSteps, double loss, double learningRate) {}

        Progress NONE = new Progress() {};
    }

    /** The output ({@code outputDir}, or the LoRA file), the steps run in all, the last loss. */
    public record Result(Path output, int steps, double lastLoss, int classImagesGenerated) {}

    public static final String LORA_FILE = "pytorch_lora_weights.safetensors";
    /** The Trainer's working state between checkpoints; removed when the run completes. */
    static final String WORK_STATE = ".dreambooth-state.safetensors";
    /** diffusers' log_validation: 25 steps of its validation_scheduler default. */
    static final String VALIDATION_SAMPLER = "DPMSolverMultistepScheduler";
    static final int VALIDATION_STEPS = 25;

    private DreamBooth() {}

    public static Result train(DreamBoothConfig config, Progress progress) {
        config.checkInputs();
        ModelFolder source = ModelFolder.resolve(config.model());
        Path out = config.outputDir().toAbsolutePath().normalize();
        if (out.equals(source.root().toAbsolutePath().normalize())) {
            throw new JDiffusionException("--output-dir is the --model folder; write the fine-tuned model elsewhere");
        }
        mkdirs(out);
        // 1. the base model, float32 (the trained weights must be: diffusers refuses anything else);
        //    for LoRA under bf16 the frozen models are bf16, as train_dreambooth_lora.py casts them to
        //    weight_dtype: half the weight memory, and no per-step casts of 860 M weights
        PipelineOptions options = config.lora() && config.mixedPrecision() == DreamBoothConfig.MixedPrecision.BF16
                ? new PipelineOptions(ScalarType.BFloat16, Tensors.CPU, null)
                : PipelineOptions.defaults();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(config.model(), options)) {
            // 2. class images
            int generated = 0;
            if (config.withPriorPreservation()) {
                int missing = config.numClassImages() - DreamBoothConfig.imageFiles(config.classDir()).size();
                if (missing > 0) {
                    progress.message("Generating " + missing + " class images with \"" + config.classPrompt() + "\"");
                    generated = ClassImages.generateMissing(pipe, config, done -> progress.classImage(done, missing));
                }
            }
            DreamBoothDataset data = new DreamBoothDataset(config, pipe.tokenizer());
            int steps = config.maxTrainSteps() > 0 ? config.maxTrainSteps() : data.stepsFor(config.numTrainEpochs());
            TrainingConfig training = config.trainingConfig(steps);
            DDPMScheduler noiseScheduler = (DDPMScheduler) Schedulers.create("DDPMScheduler", pipe.schedulerConfig(), Map.of());
            UNet2DConditionModel unet = pipe.unet();
            CLIPTextModel textEncoder = pipe.textEncoder();
            progress.message(String.format(java.util.Locale.ROOT,
                    "%d instance images, %d class images; %d steps of %d (+%d) images, lr %.1e, %s, target %s",
                    data.instanceCount(), data.classCount(), steps, config.trainBatchSize(),
                    config.withPriorPreservation() ? config.trainBatchSize() : 0, config.learningRate(),
                    config.lora() ? "LoRA rank " + config.rank() : "full fine-tune",
                    noiseScheduler.config().predictionType().name().toLowerCase(java.util.Locale.ROOT)));

            // 3. what trains
            freeze(unet);
            freeze(textEncoder);
            LoRATraining lora = null;
            Map<String, Tensor> parameters;
            if (config.lora()) {
                lora = LoRATraining.attach(unet, config.trainTextEncoder() ? textEncoder : null, config.rank(),
                        config.rank(), config.seed());
                parameters = lora.parameters();
            } else {
                parameters = new java.util.LinkedHashMap<>(ModuleTensors.parameters(unet, "unet."));
                if (config.trainTextEncoder()) parameters.putAll(ModuleTensors.parameters(textEncoder, "text_encoder."));
            }
            try {
                DreamBoothObjective objective = new DreamBoothObjective(unet, textEncoder, pipe.vae(), noiseScheduler,
                        config.trainTextEncoder(), config.withPriorPreservation(), config.priorLossWeight());
                Path work = out.resolve(WORK_STATE);
                double loss;
                try (Trainer trainer = new Trainer(training, parameters, work)) {
                    resume(config, out, work, trainer, progress);
                    Run run = new Run(config, pipe, lora, out, progress);
                    loss = config.gradientCheckpointing()
                            ? trainer.run((Trainer.BackwardObjective) (step, micro, rng, scale) ->
                                    objective.lossAndBackward(data.batch(step, micro), rng, scale), run)
                            : trainer.run((Trainer.Objective) (step, micro, rng) ->
                                    objective.loss(data.batch(step, micro), rng), run);
                }
                // 5. the result
                Path result;
                if (lora != null) {
                    result = out.resolve(LORA_FILE);
                    lora.save(result);
                } else {
                    writeFullModel(source.root(), out, unet, config.trainTextEncoder() ? textEncoder : null);
                    result = out;
                }
                deleteIfExists(work);
                return new Result(result, steps, loss, generated);
            } finally {
                if (lora != null) lora.close();
            }
        }
    }

    /** Steps 4 of the run, as the Trainer's listener: progress, validation images and checkpoint folders. */
    private record Run(DreamBoothConfig config, StableDiffusionPipeline pipe, LoRATraining lora, Path out,
                       Progress progress) implements Trainer.Listener {
        @Override
        public void onStep(int step, int totalSteps, double loss, double learningRate) {
            progress.step(step, totalSteps, loss, learningRate);
            int done = step + 1;
            if (config.validationPrompt() != null && done % config.validationSteps() == 0) validate(done);
        }

        @Override
        public void onCheckpoint(int stepsDone, Path file) {
            // the Trainer also saves its state at the very end; diffusers keeps only the multiples
            if (stepsDone % config.checkpointingSteps() != 0) return;
            for (Path removed : Checkpoints.pruneBeforeSave(out, config.checkpointsTotalLimit())) {
                progress.message("removed " + removed.getFileName() + " (--checkpoints-total-limit "
                        + config.checkpointsTotalLimit() + ")");
            }
            Path target = Checkpoints.folder(out, stepsDone);
            Path tmp = out.resolve("." + target.getFileName() + ".tmp");
            Checkpoints.deleteTree(tmp);
            mkdirs(tmp);
            copy(file, tmp.resolve(Checkpoints.STATE_FILE));
            if (lora != null) {
                lora.save(tmp.resolve(LORA_FILE));
            } else {
                PipelineWriter.writeUNet(tmp.resolve("unet"), pipe.unet(), ScalarType.Float);
                if (config.trainTextEncoder()) {
                    PipelineWriter.writeTextEncoder(tmp.resolve("text_encoder"), pipe.textEncoder(), ScalarType.Float);
                }
            }
            Checkpoints.deleteTree(target);
            move(tmp, target);
            progress.message("saved " + target);
        }

        private void validate(int stepsDone) {
            Path dir = out.resolve("validation");
            for (int i = 0; i < config.numValidationImages(); i++) {
                GenerationRequest request = GenerationRequest.builder(config.validationPrompt())
                        .sampler(VALIDATION_SAMPLER).steps(VALIDATION_STEPS).seed(config.seed() + i).build();
                BufferedImage image = pipe.generate(request).images().getFirst();
                Path file = dir.resolve(String.format(java.util.Locale.ROOT, "step-%06d-%d.png", stepsDone, i));
                PngWriter.write(file, image, "parameters", config.validationPrompt() + "\nSteps: " + VALIDATION_STEPS
                        + ", Sampler: DPM++ 2M, Seed: " + (config.seed() + i));
            }
            progress.message("validation images of step " + stepsDone + " in " + dir);
        }
    }

    private static void resume(DreamBoothConfig config, Path out, Path work, Trainer trainer, Progress progress) {
        deleteIfExists(work); // a state left by a stopped run is not a checkpoint: start afresh or from one
        if (config.resumeFromCheckpoint() == null) return;
        Path checkpoint = Checkpoints.find(out, config.resumeFromCheckpoint());
        if (checkpoint == null) {
            progress.message("Checkpoint '" + config.resumeFromCheckpoint() + "' does not exist. Starting a new training run.");
            return;
        }
        copy(checkpoint.resolve(Checkpoints.STATE_FILE), work);
        trainer.resume();
        if (trainer.stepsDone() != Checkpoints.step(checkpoint)) {
            throw new JDiffusionException(checkpoint + " holds the state of step " + trainer.stepsDone()
                    + ", not of its name's step");
        }
        progress.message("Resuming from checkpoint " + checkpoint.getFileName());
    }

    /**
     * save_pretrained of the pipeline with the trained modules: unet/ (and text_encoder/ when
     * trained) in float32, every other entry of the base model's folder (vae, tokenizer, scheduler,
     * model_index.json, ...) copied. Each component goes through a temporary folder;
     * model_index.json comes last, so a folder that has it is complete.
     */
    static void writeFullModel(Path sourceRoot, Path out, UNet2DConditionModel unet, CLIPTextModel trainedTextEncoder) {
        replace(out, "unet", tmp -> PipelineWriter.writeUNet(tmp, unet, ScalarType.Float));
        if (trainedTextEncoder != null) {
            replace(out, "text_encoder", tmp -> PipelineWriter.writeTextEncoder(tmp, trainedTextEncoder, ScalarType.Float));
        }
        List<Path> entries;
        try (Stream<Path> s = Files.list(sourceRoot)) {
            entries = s.filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
        } catch (IOException e) {
            throw new JDiffusionException("cannot list " + sourceRoot + ": " + e.getMessage(), e);
        }
        for (Path entry : entries) {
            String name = entry.getFileName().toString();
            if (name.equals("unet") || name.equals("model_index.json")) continue;
            if (name.equals("text_encoder") && trainedTextEncoder != null) continue;
            if (Files.isDirectory(entry)) replace(out, name, tmp -> copyTree(entry, tmp));
        }
        Path index = sourceRoot.resolve("model_index.json");
        AtomicFiles.write(out.resolve("model_index.json"), tmp -> Files.copy(index, tmp, StandardCopyOption.REPLACE_EXISTING));
    }

    private interface FolderWriter {
        void write(Path folder) throws IOException;
    }

    private static void replace(Path out, String name, FolderWriter writer) {
        Path tmp = out.resolve("." + name + ".tmp");
        Checkpoints.deleteTree(tmp);
        try {
            writer.write(tmp);
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + out.resolve(name) + ": " + e.getMessage(), e);
        }
        Checkpoints.deleteTree(out.resolve(name));
        move(tmp, out.resolve(name));
    }

    /** Copies a folder, following symbolic links (a Hub snapshot's files link to its blobs). */
    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from, FileVisitOption.FOLLOW_LINKS)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(target);
                else Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    /** No gradients for the base weights; the Trainer turns them back on for what it trains. */
    private static void freeze(org.bytedeco.pytorch.Module module) {
        ModuleTensors.parameters(module, "").values().forEach(p -> p.requires_grad_(false));
    }

    private static void copy(Path from, Path to) {
        AtomicFiles.write(to, tmp -> Files.copy(from, tmp, StandardCopyOption.REPLACE_EXISTING));
    }

    private static void move(Path from, Path to) {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new JDiffusionException("cannot move " + from + " to " + to + ": " + e.getMessage(), e);
        }
    }

    private static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new JDiffusionException("cannot create " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void deleteIfExists(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new JDiffusionException("cannot delete " + file + ": " + e.getMessage(), e);
        }
    }
}
