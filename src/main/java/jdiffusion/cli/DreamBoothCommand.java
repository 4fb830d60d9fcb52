package jdiffusion.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.training.TrainingConfig.LrSchedule;
import jdiffusion.training.dreambooth.DreamBooth;
import jdiffusion.training.dreambooth.DreamBoothConfig;
import jdiffusion.training.dreambooth.DreamBoothConfig.MixedPrecision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion dreambooth}: diffusers' train_dreambooth.py and train_dreambooth_lora.py, the
 * options spelled with dashes, same meanings and defaults (see {@link DreamBoothConfig}).
 */
@Command(name = "dreambooth", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Teach a model a subject from a few images (DreamBooth): full fine-tune or --lora.")
final class DreamBoothCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(names = "--instance-dir", paramLabel = "DIR", required = true, description = "The images of the subject.")
    Path instanceDir;

    @Option(names = "--instance-prompt", required = true, description = "E.g. \"a photo of sks dog\".")
    String instancePrompt;

    @Option(names = "--with-prior-preservation", description = "Add the class images' loss (needs --class-dir, --class-prompt).")
    boolean withPriorPreservation;

    @Option(names = "--class-dir", paramLabel = "DIR", description = "Class images; the missing ones are generated first.")
    Path classDir;

    @Option(names = "--class-prompt", description = "E.g. \"a photo of dog\".")
    String classPrompt;

    @Option(names = "--num-class-images", description = "Class images to have and train on (default: ${DEFAULT-VALUE}).")
    int numClassImages = 100;

    @Option(names = "--class-inference-steps", description = "Denoising steps per generated class image (default: ${DEFAULT-VALUE}).")
    int classInferenceSteps = 50;

    @Option(names = "--prior-loss-weight", description = "Weight of the class loss (default: ${DEFAULT-VALUE}).")
    double priorLossWeight = 1.0;

    @Option(names = "--train-text-encoder", description = "Train the text encoder too.")
    boolean trainTextEncoder;

    @Option(names = "--lora", description = "Train LoRA adapters (writes pytorch_lora_weights.safetensors).")
    boolean lora;

    @Option(names = "--rank", description = "LoRA rank (default: ${DEFAULT-VALUE}).")
    int rank = 4;

    @Option(names = "--resolution", paramLabel = "PX",
            description = "Training resolution (default: the model's own, sample_size x the VAE's factor: 512 for SD 1.5, 64 for the tiny model).")
    Integer resolution;

    @Option(names = "--center-crop", description = "Crop the centre (default: a random crop).")
    boolean centerCrop;

    @Option(names = "--random-flip", description = "Flip images horizontally at random.")
    boolean randomFlip;

    @Option(names = "--train-batch-size", description = "Instance images per micro-batch (default: ${DEFAULT-VALUE}).")
    int trainBatchSize = 4;

    @Option(names = "--gradient-accumulation-steps", description = "Micro-batches per step (default: ${DEFAULT-VALUE}).")
    int gradientAccumulationSteps = 1;

    @Option(names = "--max-train-steps", description = "Optimiser steps (default: --num-train-epochs epochs).")
    Integer maxTrainSteps;

    @Option(names = "--num-train-epochs", description = "Epochs when --max-train-steps is not given (default: ${DEFAULT-VALUE}).")
    int numTrainEpochs = 1;

    @Option(names = "--learning-rate", description = "Default: 5e-6, or 5e-4 with --lora (diffusers' scripts).")
    Double learningRate;

    @Option(names = "--lr-scheduler", description = "constant, constant_with_warmup or cosine (default: ${DEFAULT-VALUE}).")
    String lrScheduler = "constant";

    @Option(names = "--lr-warmup-steps", description = "Warm-up steps of the schedules that have one (default: ${DEFAULT-VALUE}).")
    int lrWarmupSteps = 500;

    @Option(names = "--max-grad-norm", description = "Gradient clipping (default: ${DEFAULT-VALUE}).")
    double maxGradNorm = 1.0;

    @Option(names = "--adam-weight-decay", description = "AdamW weight decay (default: ${DEFAULT-VALUE}).")
    double adamWeightDecay = 1e-2;

    @Mixin
    TrainingDTypeOption dtype;

    @Option(names = "--gradient-checkpointing", description = "Recompute UNet blocks in the backward pass (less memory).")
    boolean gradientCheckpointing;

    @Option(names = "--seed", description = "Seed of the run (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--checkpointing-steps", description = "Write checkpoint-N every N steps (default: ${DEFAULT-VALUE}).")
    int checkpointingSteps = 500;

    @Option(names = "--checkpoints-total-limit", description = "Keep at most this many checkpoints (default: all).")
    int checkpointsTotalLimit;

    @Option(names = "--resume-from-checkpoint", paramLabel = "latest|checkpoint-N", description = "Continue a run from its checkpoint.")
    String resumeFromCheckpoint;

    @Option(names = "--validation-prompt", description = "Draw this prompt every --validation-steps into OUTPUT/validation/.")
    String validationPrompt;

    @Option(names = "--validation-steps", description = "Default: ${DEFAULT-VALUE}.")
    int validationSteps = 100;

    @Option(names = "--num-validation-images", description = "Default: ${DEFAULT-VALUE}.")
    int numValidationImages = 4;

    @Option(names = "--output-dir", paramLabel = "DIR",
            description = "Default: text-inversion-model, or lora-dreambooth-model with --lora (diffusers' defaults).")
    Path outputDir;

    @Option(names = "--overwrite",
            description = "Train into a non-empty --output-dir without --resume-from-checkpoint: its checkpoint-N folders are deleted and the model replaced.")
    boolean overwrite;

    @Option(names = "--quiet", description = "No progress bar.")
    boolean quiet;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        DreamBoothConfig config = config();
        prepareOutput(config.outputDir());
        long start = System.nanoTime();
        ProgressBar[] bar = new ProgressBar[2];
        DreamBooth.Result result = DreamBooth.train(config, new DreamBooth.Progress() {
            @Override
            public void message(String text) {
                if (bar[1] != null) System.err.println();
                out.println(text);
                out.flush();
            }

            @Override
            public void classImage(int done, int total) {
                if (quiet) return;
                if (bar[0] == null) bar[0] = new ProgressBar(System.err, "class images", total);
                bar[0].update(done);
                if (done == total) bar[0].done();
            }

            @Override
            public void step(int step, int totalSteps, double loss, double lr) {
                if (quiet) return;
                // after a resume the first step seen is the checkpoint's: the bar counts on from there
                if (bar[1] == null) bar[1] = new ProgressBar(System.err, "dreambooth", totalSteps, step, System.nanoTime());
                bar[1].update(step + 1, String.format(Locale.ROOT, "loss %.4f  lr %.1e", loss, lr));
                if (step + 1 == totalSteps) bar[1].done();
            }
        });
        out.printf(Locale.ROOT, "dreambooth: %d steps, last loss %.4f, %.1f min -> %s%n", result.steps(), result.lastLoss(),
                (System.nanoTime() - start) / 6e10, result.output());
        out.flush();
        return 0;
    }

    DreamBoothConfig config() {
        if (maxTrainSteps != null && maxTrainSteps < 1) {
            throw new JDiffusionException("--max-train-steps must be at least 1, got " + maxTrainSteps);
        }
        String folder = model.resolve();
        Path output = outputDir != null ? outputDir : Path.of(lora ? "lora-dreambooth-model" : "text-inversion-model");
        int size = resolution != null ? resolution : ModelFolder.resolve(folder).defaultImageSize();
        return new DreamBoothConfig(folder, instanceDir, instancePrompt, withPriorPreservation, classDir, classPrompt,
                numClassImages, priorLossWeight, trainTextEncoder, lora, rank, size, centerCrop, randomFlip,
                trainBatchSize, gradientAccumulationSteps, maxTrainSteps == null ? 0 : maxTrainSteps, numTrainEpochs,
                learningRate != null ? learningRate
                        : lora ? DreamBoothConfig.LORA_LEARNING_RATE : DreamBoothConfig.FULL_LEARNING_RATE,
                LrSchedule.parse(lrScheduler), lrWarmupSteps, maxGradNorm, adamWeightDecay,
                MixedPrecision.parse(dtype.mixedPrecision()), gradientCheckpointing, seed, checkpointingSteps,
                checkpointsTotalLimit, resumeFromCheckpoint, validationPrompt, validationSteps, numValidationImages,
                classInferenceSteps, output);
    }

    /**
     * A finished run's folder is not trained into again by accident: without
     * --resume-from-checkpoint a non-empty output folder is refused, since the new run would replace
     * the model and leave the old run's checkpoint-N folders for a later {@code latest} to pick up.
     * --overwrite deletes those checkpoints first.
     */
    private void prepareOutput(Path output) {
        WritableFolder.require("--output-dir", output); // before hours of training, not after
        if (resumeFromCheckpoint != null || !Files.isDirectory(output)) return;
        List<Path> entries;
        try (Stream<Path> s = Files.list(output)) {
            entries = s.toList();
        } catch (IOException e) {
            throw new JDiffusionException("cannot read --output-dir " + output + ": " + e.getMessage());
        }
        if (entries.isEmpty()) return;
        if (!overwrite) {
            throw new JDiffusionException("--output-dir " + output + " is not empty (a previous run?): pass"
                    + " --resume-from-checkpoint latest to continue it, --overwrite to replace it, or another --output-dir");
        }
        for (Path checkpoint : entries) {
            if (Files.isDirectory(checkpoint) && checkpoint.getFileName().toString().matches("checkpoint-\\d+")) {
                deleteRecursively(checkpoint);
            }
        }
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        } catch (IOException e) {
            throw new JDiffusionException("cannot delete the old " + dir + ": " + e.getMessage());
        }
    }
}
