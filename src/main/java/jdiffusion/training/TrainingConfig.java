package jdiffusion.training;

import jdiffusion.JDiffusionException;

/**
 * The optimisation settings of a {@link Trainer} run, shared by every recipe (the tiny model,
 * DreamBooth): diffusers' train_text_to_image.py arguments, camel-cased.
 *
 * @param steps             optimiser steps (each of {@code gradientAccumulation} micro-batches)
 * @param learningRate      peak AdamW learning rate, reached after {@code warmupSteps}
 * @param lrSchedule        what follows the warm-up: constant, or a cosine decay to 0 at {@code steps}
 * @param maxGradNorm       clip the global gradient norm to this; 0 turns clipping off
 * @param emaDecay          exponential moving average of the weights; 0 turns it off
 * @param bf16              run forwards under CPU autocast to bfloat16 (weights and optimiser stay float32)
 * @param seed              every random draw of step s derives from (seed, s), so a resumed run
 *                          continues exactly as one that never stopped
 * @param checkpointEvery   write a checkpoint every this many steps (and at the end); 0 = only at the end
 */
public record TrainingConfig(
        int steps,
        double learningRate,
        int warmupSteps,
        LrSchedule lrSchedule,
        int gradientAccumulation,
        double maxGradNorm,
        double weightDecay,
        double emaDecay,
        boolean bf16,
        long seed,
        int checkpointEvery) {

    /** The learning-rate schedules of diffusers' {@code get_scheduler} that the Trainer follows. */
    public enum LrSchedule {
        /** The learning rate throughout; like diffusers' "constant", it takes no warm-up. */
        CONSTANT("constant"),
        /** Linear warm-up over {@code warmupSteps}, then constant. */
        CONSTANT_WITH_WARMUP("constant_with_warmup"),
        /** Linear warm-up, then a half cosine to 0 at the last step. */
        COSINE("cosine");

        private final String diffusersName;

        LrSchedule(String diffusersName) {
            this.diffusersName = diffusersName;
        }

        /** The name of the training scripts' {@code --lr_scheduler}. */
        public String diffusersName() {
            return diffusersName;
        }

        /** From diffusers' spelling; "linear", "polynomial" and the restarts are not implemented. */
        public static LrSchedule parse(String name) {
            for (LrSchedule s : values()) {
                if (s.diffusersName.equalsIgnoreCase(name) || s.name().equalsIgnoreCase(name)) return s;
            }
            throw new JDiffusionException("--lr-scheduler " + name + " is not supported; use constant, "
                    + "constant_with_warmup or cosine");
        }
    }

    public TrainingConfig {
        require(steps > 0, "steps must be positive, got " + steps);
        require(learningRate > 0, "the learning rate must be positive, got " + learningRate);
        require(warmupSteps >= 0, "warm-up steps must be >= 0, got " + warmupSteps);
        require(gradientAccumulation >= 1, "gradient accumulation must be >= 1, got " + gradientAccumulation);
        require(maxGradNorm >= 0, "max grad norm must be >= 0 (0 = no clipping), got " + maxGradNorm);
        require(weightDecay >= 0, "weight decay must be >= 0, got " + weightDecay);
        require(emaDecay >= 0 && emaDecay < 1, "EMA decay must be in [0, 1) (0 = off), got " + emaDecay);
        require(checkpointEvery >= 0, "checkpoint interval must be >= 0, got " + checkpointEvery);
        if (lrSchedule == null) lrSchedule = LrSchedule.CONSTANT;
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new JDiffusionException("training: " + message);
    }

    /** Defaults close to diffusers' train_text_to_image.py for {@code steps} steps at {@code learningRate}. */
    public static TrainingConfig of(int steps, double learningRate) {
        return new TrainingConfig(steps, learningRate, 0, LrSchedule.CONSTANT, 1, 1.0, 1e-2, 0, false, 0, 0);
    }

    public TrainingConfig withSteps(int v) {
        return new TrainingConfig(v, learningRate, warmupSteps, lrSchedule, gradientAccumulation, maxGradNorm,
                weightDecay, emaDecay, bf16, seed, checkpointEvery);
    }

    public TrainingConfig withSeed(long v) {
        return new TrainingConfig(steps, learningRate, warmupSteps, lrSchedule, gradientAccumulation, maxGradNorm,
                weightDecay, emaDecay, bf16, v, checkpointEvery);
    }

    public TrainingConfig withCheckpointEvery(int v) {
        return new TrainingConfig(steps, learningRate, warmupSteps, lrSchedule, gradientAccumulation, maxGradNorm,
                weightDecay, emaDecay, bf16, seed, v);
    }

    /**
     * The learning rate of step {@code step} (0-based): linear warm-up from lr/warmup to lr over
     * {@code warmupSteps} (not for CONSTANT), then constant or cosine to 0 at {@code steps}
     * (diffusers' get_scheduler).
     */
    public double learningRate(int step) {
        if (step < warmupSteps && lrSchedule != LrSchedule.CONSTANT) return learningRate * (step + 1) / warmupSteps;
        return switch (lrSchedule) {
            case CONSTANT, CONSTANT_WITH_WARMUP -> learningRate;
            case COSINE -> {
                double progress = (double) (step - warmupSteps) / Math.max(1, steps - warmupSteps);
                yield learningRate * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
            }
        };
    }
}
