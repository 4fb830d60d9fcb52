package jdiffusion.schedulers;

import jdiffusion.JDiffusionException;

/**
 * A diffusers scheduler: a record of its resolved configuration, its float32 training tables and any
 * extras (DDIM's and TCD's eta), immutable and shareable between threads. {@link #schedule} is {@code set_timesteps(n)}; the mutable part of a
 * diffusers scheduler (step counter, multistep history) lives in the {@link SchedulerRun} that
 * {@link #start} returns, one per generation, so concurrent generations never interfere
 * (huggingface/diffusers#3672).
 */
public sealed interface Scheduler
        permits DDPMScheduler, DDIMScheduler, PNDMScheduler, LMSDiscreteScheduler, EulerDiscreteScheduler,
        EulerAncestralDiscreteScheduler, HeunDiscreteScheduler, DPMSolverMultistepScheduler,
        UniPCMultistepScheduler, LCMScheduler, TCDScheduler {

    SchedulerConfig config();

    /** {@code betas} and {@code alphas_cumprod}, as the diffusers constructor builds them. */
    TrainingTables tables();

    /** The diffusers class this scheduler mirrors. */
    default SchedulerKind kind() {
        return switch (this) {
            case DDPMScheduler ignored -> SchedulerKind.DDPM;
            case DDIMScheduler ignored -> SchedulerKind.DDIM;
            case PNDMScheduler ignored -> SchedulerKind.PNDM;
            case LMSDiscreteScheduler ignored -> SchedulerKind.LMS;
            case EulerDiscreteScheduler ignored -> SchedulerKind.EULER;
            case EulerAncestralDiscreteScheduler ignored -> SchedulerKind.EULER_ANCESTRAL;
            case HeunDiscreteScheduler ignored -> SchedulerKind.HEUN;
            case DPMSolverMultistepScheduler ignored -> SchedulerKind.DPM_SOLVER_MULTISTEP;
            case UniPCMultistepScheduler ignored -> SchedulerKind.UNIPC;
            case LCMScheduler ignored -> SchedulerKind.LCM;
            case TCDScheduler ignored -> SchedulerKind.TCD;
        };
    }

    /** diffusers' {@code order}: UNet calls per step of the nominal schedule (2 for Heun, else 1). */
    default int order() {
        return 1;
    }

    /** {@code betas}, float32, one per training timestep (a copy). */
    default float[] betas() {
        return tables().betas();
    }

    /** {@code alphas_cumprod}, float32, one per training timestep (a copy). */
    default float[] alphasCumprod() {
        return tables().alphasCumprod();
    }

    /** {@code set_timesteps(steps)}: the timesteps (and sigmas) for {@code steps} inference steps. */
    Schedule schedule(int steps);

    /**
     * A run over {@code schedule} starting at index {@code beginIndex}. {@code beginIndexSet} is
     * diffusers' {@code set_begin_index}: the sigma-based schedulers then take sigmas by position
     * instead of by looking the timestep up (it matters when timesteps repeat, as in Heun).
     */
    SchedulerRun newRun(Schedule schedule, int beginIndex, boolean beginIndexSet);

    /** A text-to-image run over all {@code steps}: the pipeline loop of diffusers. */
    default SchedulerRun start(int steps) {
        return newRun(schedule(steps), 0, false);
    }

    /**
     * An image-to-image run: diffusers' {@code get_timesteps(steps, strength)} keeps the last
     * {@code min(int(steps * strength), steps)} steps, {@code timesteps[t_start * order:]}, and calls
     * {@code set_begin_index(t_start * order)}. The first timestep of the run is the one to noise the
     * init latents to ({@link SchedulerRun#addNoise}).
     */
    default SchedulerRun startImg2Img(int steps, double strength) {
        if (!(strength >= 0 && strength <= 1)) {
            throw new JDiffusionException("strength must be between 0 and 1, got " + strength);
        }
        Schedule schedule = schedule(steps);
        int initTimestep = Math.min((int) (steps * strength), steps);
        int tStart = Math.max(steps - initTimestep, 0);
        int begin = tStart * order();
        if (begin >= schedule.size()) {
            throw new JDiffusionException("strength " + strength + " with " + steps
                    + " steps leaves no denoising step; raise the strength or the number of steps");
        }
        return newRun(schedule, begin, true);
    }

    /** Rejects step counts diffusers cannot schedule. */
    static void checkSteps(int steps, SchedulerConfig config) {
        if (steps < 1) throw new JDiffusionException("the number of steps must be at least 1, got " + steps);
        if (steps > config.numTrainTimesteps()) {
            throw new JDiffusionException("the number of steps (" + steps + ") cannot exceed num_train_timesteps ("
                    + config.numTrainTimesteps() + ") of the scheduler");
        }
    }
}
