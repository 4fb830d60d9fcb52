package jdiffusion.training.dreambooth;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.training.TrainingConfig;
import jdiffusion.training.TrainingConfig.LrSchedule;

/**
 * The options of diffusers' examples/dreambooth/train_dreambooth.py and train_dreambooth_lora.py
 * (0.31) that jdiffusion implements, camel-cased, with their defaults ({@link #defaults}). The
 * compact constructor checks the values; {@link #checkInputs} checks the folders and images.
 *
 * @param model                     the base model: a diffusers folder or a Hub id in the local cache
 * @param instanceDir               the 3-5 images of the subject
 * @param instancePrompt            e.g. "a photo of sks dog": a rare token ("sks") plus the class noun
 * @param withPriorPreservation     add the class images' loss, so the class keeps its meaning
 * @param classDir                  the class images; the missing ones are generated with the base model
 * @param classPrompt               e.g. "a photo of dog": generates the class images and captions them
 * @param numClassImages            how many class images to have (and to train on); diffusers: 100
 * @param priorLossWeight           loss = mse(instance) + priorLossWeight * mse(class)
 * @param trainTextEncoder          train the text encoder too (full fine-tune: its weights; LoRA: its adapters)
 * @param lora                      train low-rank adapters instead of the weights (train_dreambooth_lora.py)
 * @param rank                      the LoRA rank (alpha = rank, as the diffusers script sets it)
 * @param resolution                images are resized (shorter side) and cropped to this square
 * @param centerCrop                crop the centre (else a random crop per step)
 * @param randomFlip                flip horizontally with probability 0.5
 * @param trainBatchSize            instance images per micro-batch (as many class images are added)
 * @param gradientAccumulationSteps micro-batches per optimiser step
 * @param maxTrainSteps             optimiser steps; 0 = {@code numTrainEpochs} epochs of the data set
 * @param numTrainEpochs            used when maxTrainSteps is 0
 * @param learningRate              AdamW peak rate; diffusers: 5e-6 full, 5e-4 LoRA
 * @param lrScheduler               constant (no warm-up, as diffusers' "constant"), constant_with_warmup, cosine
 * @param lrWarmupSteps             diffusers' default 500 only matters for the schedules with warm-up
 * @param maxGradNorm               global gradient-norm clipping
 * @param adamWeightDecay           AdamW decoupled weight decay (betas 0.9/0.999, eps 1e-8 are fixed)
 * @param mixedPrecision            bf16 autocast on the CPU; fp16 needs CUDA and a gradient scaler (refused)
 * @param gradientCheckpointing     recompute UNet blocks in the backward pass instead of keeping activations
 * @param seed                      every random draw of step s derives from (seed, s): runs repeat and resume exactly
 * @param checkpointingSteps        write {@code output/checkpoint-N} every this many steps
 * @param checkpointsTotalLimit     keep at most this many checkpoint folders; 0 = all
 * @param resumeFromCheckpoint      "latest" or "checkpoint-N" (in the output folder), or null
 * @param validationPrompt          generate images from it every validationSteps steps, or null
 * @param validationSteps           how often to validate
 * @param numValidationImages       images per validation (seeds seed, seed + 1, ...)
 * @param classInferenceSteps       denoising steps per class image (diffusers' pipeline default 50); jdiffusion's own
 * @param outputDir                 where the model, checkpoints and validation images go
 */
public record DreamBoothConfig(
        String model,
        Path instanceDir,
        String instancePrompt,
        boolean withPriorPreservation,
        Path classDir,
        String classPrompt,
        int numClassImages,
        double priorLossWeight,
        boolean trainTextEncoder,
        boolean lora,
        int rank,
        int resolution,
        boolean centerCrop,
        boolean randomFlip,
        int trainBatchSize,
        int gradientAccumulationSteps,
        int maxTrainSteps,
        int numTrainEpochs,
        double learningRate,
        LrSchedule lrScheduler,
        int lrWarmupSteps,
        double maxGradNorm,
        double adamWeightDecay,
        MixedPrecision mixedPrecision,
        boolean gradientCheckpointing,
        long seed,
        int checkpointingSteps,
        int checkpointsTotalLimit,
        String resumeFromCheckpoint,
        String validationPrompt,
        int validationSteps,
        int numValidationImages,
        int classInferenceSteps,
        Path outputDir) {

    /** diffusers' learning rates: the full fine-tune's and the LoRA script's. */
    public static final double FULL_LEARNING_RATE = 5e-6;
    public static final double LORA_LEARNING_RATE = 5e-4;

    public enum MixedPrecision {
        NO, BF16, FP16;

        public static MixedPrecision parse(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "no", "fp32" -> NO;
                case "bf16" -> BF16;
                case "fp16" -> FP16;
                default -> throw new JDiffusionException("--dtype must be fp32 or bf16 (fp16 on CUDA), not " + name);
            };
        }
    }

    public DreamBoothConfig {
        require(instanceDir != null, "--instance-dir is required: a folder with the 3-5 images of the subject");
        require(instancePrompt != null && !instancePrompt.isBlank(),
                "--instance-prompt is required, e.g. \"a photo of sks dog\" (a rare token plus the class noun)");
        if (withPriorPreservation) {
            // train_dreambooth.py's parse_args refuses exactly these two
            require(classDir != null, "--with-prior-preservation needs --class-dir (a folder for the class images; "
                    + "missing ones are generated)");
            require(classPrompt != null && !classPrompt.isBlank(),
                    "--with-prior-preservation needs --class-prompt, e.g. \"a photo of dog\"");
            require(numClassImages >= 1 && numClassImages <= 100_000,
                    "--num-class-images must be between 1 and 100000, got " + numClassImages);
            require(Double.isFinite(priorLossWeight) && priorLossWeight >= 0,
                    "--prior-loss-weight must be a finite number >= 0, got " + priorLossWeight);
        }
        require(!lora || (rank >= 1 && rank <= 1024), "--rank must be between 1 and 1024, got " + rank);
        require(resolution >= 8 && resolution <= 4096 && resolution % 8 == 0,
                "--resolution must be a multiple of 8 between 8 and 4096, got " + resolution);
        require(trainBatchSize >= 1 && trainBatchSize <= 256, "--train-batch-size must be between 1 and 256, got "
                + trainBatchSize);
        require(gradientAccumulationSteps >= 1 && gradientAccumulationSteps <= 1024,
                "--gradient-accumulation-steps must be between 1 and 1024, got " + gradientAccumulationSteps);
        require(maxTrainSteps >= 0 && maxTrainSteps <= 10_000_000,
                "--max-train-steps must be between 1 and 10000000, got " + maxTrainSteps);
        require(maxTrainSteps > 0 || numTrainEpochs >= 1, "--num-train-epochs must be at least 1, got " + numTrainEpochs);
        require(Double.isFinite(learningRate) && learningRate > 0 && learningRate < 1,
                "--learning-rate must be in (0, 1), got " + learningRate + " (diffusers: 5e-6 full, 5e-4 LoRA)");
        require(lrScheduler != null, "--lr-scheduler is required");
        require(lrWarmupSteps >= 0, "--lr-warmup-steps must be >= 0, got " + lrWarmupSteps);
        require(Double.isFinite(maxGradNorm) && maxGradNorm >= 0, "--max-grad-norm must be >= 0 (0 = no clipping), got "
                + maxGradNorm);
        require(Double.isFinite(adamWeightDecay) && adamWeightDecay >= 0 && adamWeightDecay < 1,
                "--adam-weight-decay must be in [0, 1), got " + adamWeightDecay);
        require(mixedPrecision != null, "--dtype is required");
        // jdiffusion trains on the CPU, where float16 autocast is slow and would need a loss scaler
        require(mixedPrecision != MixedPrecision.FP16,
                "--dtype fp16 needs a CUDA GPU (and a gradient scaler); on the CPU use --dtype bf16");
        require(checkpointingSteps >= 1, "--checkpointing-steps must be at least 1, got " + checkpointingSteps);
        require(checkpointsTotalLimit >= 0, "--checkpoints-total-limit must be >= 0 (0 = keep all), got "
                + checkpointsTotalLimit);
        require(resumeFromCheckpoint == null || resumeFromCheckpoint.equals("latest")
                        || Path.of(resumeFromCheckpoint).getFileName().toString().matches("checkpoint-\\d+"),
                "--resume-from-checkpoint must be latest or checkpoint-N, got " + resumeFromCheckpoint);
        require(validationSteps >= 1, "--validation-steps must be at least 1, got " + validationSteps);
        require(numValidationImages >= 1 && numValidationImages <= 64,
                "--num-validation-images must be between 1 and 64, got " + numValidationImages);
        require(classInferenceSteps >= 1 && classInferenceSteps <= 1000,
                "--class-inference-steps must be between 1 and 1000, got " + classInferenceSteps);
        require(outputDir != null, "--output-dir is required");
    }

    /** diffusers' defaults for a run on {@code instanceDir} with {@code instancePrompt}. */
    public static DreamBoothConfig defaults(String model, Path instanceDir, String instancePrompt, Path outputDir) {
        return new DreamBoothConfig(model, instanceDir, instancePrompt, false, null, null, 100, 1.0, false, false, 4,
                512, false, false, 4, 1, 0, 1, FULL_LEARNING_RATE, LrSchedule.CONSTANT, 500, 1.0, 1e-2,
                MixedPrecision.NO, false, 0, 500, 0, null, null, 100, 4, 50, outputDir);
    }

    /** The image files of a folder (PNG, JPEG, BMP, GIF by extension), sorted by name; other files are ignored. */
    public static List<Path> imageFiles(Path dir) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> out = new ArrayList<>(s.filter(Files::isRegularFile)
                    .filter(p -> p.getFileName().toString().toLowerCase(Locale.ROOT)
                            .matches(".*\\.(png|jpe?g|bmp|gif)$"))
                    .toList());
            out.sort(DreamBoothConfig::compareNames);
            return out;
        } catch (IOException e) {
            throw new JDiffusionException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Leading numbers compare as numbers ("9-..." before "10-..."), the rest as text. */
    static int compareNames(Path a, Path b) {
        String x = a.getFileName().toString();
        String y = b.getFileName().toString();
        long nx = leadingNumber(x);
        long ny = leadingNumber(y);
        if (nx != ny) return Long.compare(nx, ny);
        return x.compareTo(y);
    }

    private static long leadingNumber(String name) {
        int i = 0;
        while (i < name.length() && i < 18 && Character.isDigit(name.charAt(i))) i++;
        return i == 0 ? Long.MAX_VALUE : Long.parseLong(name.substring(0, i));
    }

    /**
     * Checks what the constructor cannot: the instance folder exists and holds images that all
     * read. Class images are checked when used (the missing ones are generated first).
     */
    public void checkInputs() {
        if (!Files.isDirectory(instanceDir)) {
            throw new JDiffusionException("--instance-dir " + instanceDir + " is not a folder; put the 3-5 images of "
                    + "the subject in one");
        }
        List<Path> images = imageFiles(instanceDir);
        if (images.isEmpty()) {
            throw new JDiffusionException("--instance-dir " + instanceDir + " holds no images (PNG, JPEG, BMP or GIF); "
                    + "put the 3-5 images of the subject there");
        }
        for (Path p : images) Images.read(p); // throws with the file's name when unreadable
        if (withPriorPreservation && Files.exists(classDir) && !Files.isDirectory(classDir)) {
            throw new JDiffusionException("--class-dir " + classDir + " is a file, not a folder");
        }
    }

    /** The Trainer's settings for {@code steps} optimiser steps. */
    public TrainingConfig trainingConfig(int steps) {
        // diffusers' "constant" ignores the warm-up: so does TrainingConfig's CONSTANT
        return new TrainingConfig(steps, learningRate, lrWarmupSteps, lrScheduler, gradientAccumulationSteps, maxGradNorm,
                adamWeightDecay, 0, mixedPrecision == MixedPrecision.BF16, seed, checkpointingSteps);
    }

    /** A builder starting from {@link #defaults}; {@code build()} validates. */
    public static Builder builder(String model, Path instanceDir, String instancePrompt, Path outputDir) {
        return new Builder(defaults(model, instanceDir, instancePrompt, outputDir));
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Field by field, named as the record's components. */
    public static final class Builder {
        private String model;
        private Path instanceDir;
        private String instancePrompt;
        private boolean withPriorPreservation;
        private Path classDir;
        private String classPrompt;
        private int numClassImages;
        private double priorLossWeight;
        private boolean trainTextEncoder;
        private boolean lora;
        private int rank;
        private int resolution;
        private boolean centerCrop;
        private boolean randomFlip;
        private int trainBatchSize;
        private int gradientAccumulationSteps;
        private int maxTrainSteps;
        private int numTrainEpochs;
        private double learningRate;
        private LrSchedule lrScheduler;
        private int lrWarmupSteps;
        private double maxGradNorm;
        private double adamWeightDecay;
        private MixedPrecision mixedPrecision;
        private boolean gradientCheckpointing;
        private long seed;
        private int checkpointingSteps;
        private int checkpointsTotalLimit;
        private String resumeFromCheckpoint;
        private String validationPrompt;
        private int validationSteps;
        private int numValidationImages;
        private int classInferenceSteps;
        private Path outputDir;

        private Builder(DreamBoothConfig c) {
            model = c.model;
            instanceDir = c.instanceDir;
            instancePrompt = c.instancePrompt;
            withPriorPreservation = c.withPriorPreservation;
            classDir = c.classDir;
            classPrompt = c.classPrompt;
            numClassImages = c.numClassImages;
            priorLossWeight = c.priorLossWeight;
            trainTextEncoder = c.trainTextEncoder;
            lora = c.lora;
            rank = c.rank;
            resolution = c.resolution;
            centerCrop = c.centerCrop;
            randomFlip = c.randomFlip;
            trainBatchSize = c.trainBatchSize;
            gradientAccumulationSteps = c.gradientAccumulationSteps;
            maxTrainSteps = c.maxTrainSteps;
            numTrainEpochs = c.numTrainEpochs;
            learningRate = c.learningRate;
            lrScheduler = c.lrScheduler;
            lrWarmupSteps = c.lrWarmupSteps;
            maxGradNorm = c.maxGradNorm;
            adamWeightDecay = c.adamWeightDecay;
            mixedPrecision = c.mixedPrecision;
            gradientCheckpointing = c.gradientCheckpointing;
            seed = c.seed;
            checkpointingSteps = c.checkpointingSteps;
            checkpointsTotalLimit = c.checkpointsTotalLimit;
            resumeFromCheckpoint = c.resumeFromCheckpoint;
            validationPrompt = c.validationPrompt;
            validationSteps = c.validationSteps;
            numValidationImages = c.numValidationImages;
            classInferenceSteps = c.classInferenceSteps;
            outputDir = c.outputDir;
        }

        public Builder model(String v) { model = v; return this; }
        public Builder instanceDir(Path v) { instanceDir = v; return this; }
        public Builder instancePrompt(String v) { instancePrompt = v; return this; }
        public Builder withPriorPreservation(boolean v) { withPriorPreservation = v; return this; }
        public Builder classDir(Path v) { classDir = v; return this; }
        public Builder classPrompt(String v) { classPrompt = v; return this; }
        public Builder numClassImages(int v) { numClassImages = v; return this; }
        public Builder priorLossWeight(double v) { priorLossWeight = v; return this; }
        public Builder trainTextEncoder(boolean v) { trainTextEncoder = v; return this; }
        public Builder lora(boolean v) { lora = v; return this; }
        public Builder rank(int v) { rank = v; return this; }
        public Builder resolution(int v) { resolution = v; return this; }
        public Builder centerCrop(boolean v) { centerCrop = v; return this; }
        public Builder randomFlip(boolean v) { randomFlip = v; return this; }
        public Builder trainBatchSize(int v) { trainBatchSize = v; return this; }
        public Builder gradientAccumulationSteps(int v) { gradientAccumulationSteps = v; return this; }
        public Builder maxTrainSteps(int v) { maxTrainSteps = v; return this; }
        public Builder numTrainEpochs(int v) { numTrainEpochs = v; return this; }
        public Builder learningRate(double v) { learningRate = v; return this; }
        public Builder lrScheduler(LrSchedule v) { lrScheduler = v; return this; }
        public Builder lrWarmupSteps(int v) { lrWarmupSteps = v; return this; }
        public Builder maxGradNorm(double v) { maxGradNorm = v; return this; }
        public Builder adamWeightDecay(double v) { adamWeightDecay = v; return this; }
        public Builder mixedPrecision(MixedPrecision v) { mixedPrecision = v; return this; }
        public Builder gradientCheckpointing(boolean v) { gradientCheckpointing = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder checkpointingSteps(int v) { checkpointingSteps = v; return this; }
        public Builder checkpointsTotalLimit(int v) { checkpointsTotalLimit = v; return this; }
        public Builder resumeFromCheckpoint(String v) { resumeFromCheckpoint = v; return this; }
        public Builder validationPrompt(String v) { validationPrompt = v; return this; }
        public Builder validationSteps(int v) { validationSteps = v; return this; }
        public Builder numValidationImages(int v) { numValidationImages = v; return this; }
        public Builder classInferenceSteps(int v) { classInferenceSteps = v; return this; }
        public Builder outputDir(Path v) { outputDir = v; return this; }

        public DreamBoothConfig build() {
            return new DreamBoothConfig(model, instanceDir, instancePrompt, withPriorPreservation, classDir,
                    classPrompt, numClassImages, priorLossWeight, trainTextEncoder, lora, rank, resolution,
                    centerCrop, randomFlip, trainBatchSize, gradientAccumulationSteps, maxTrainSteps, numTrainEpochs,
                    learningRate, lrScheduler, lrWarmupSteps, maxGradNorm, adamWeightDecay, mixedPrecision,
                    gradientCheckpointing, seed, checkpointingSteps, checkpointsTotalLimit, resumeFromCheckpoint,
                    validationPrompt, validationSteps, numValidationImages, classInferenceSteps, outputDir);
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new JDiffusionException(message);
    }
}
