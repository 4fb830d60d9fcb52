package jdiffusion.schedulers;

import java.util.Objects;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;

/**
 * One denoising run: the mutable half of a diffusers scheduler (the step index and, for the multistep
 * schedulers, the history). Create one per generation with {@link Scheduler#start}; not thread-safe.
 *
 * <p>Tensors it returns belong to the caller's current PointerScope. Tensors it keeps between steps
 * (PNDM {@code ets}, LMS derivatives, DPM/UniPC model outputs, Heun's first-order sample) are held by
 * their own references, so the caller may close a scope around every step; they are released after
 * the last step or by {@link #close}, whichever comes first.
 */
public abstract sealed class SchedulerRun implements AutoCloseable
        permits DDPMScheduler.Run, DDIMScheduler.Run, PNDMScheduler.Run, LMSDiscreteScheduler.Run,
        EulerDiscreteScheduler.Run, EulerAncestralDiscreteScheduler.Run, HeunDiscreteScheduler.Run,
        DPMSolverMultistepScheduler.Run, UniPCMultistepScheduler.Run, LCMScheduler.Run, TCDScheduler.Run {

    private final Scheduler scheduler;
    final Schedule schedule;
    private final int beginIndex;
    private final boolean beginIndexSet;
    /** Absolute index into the schedule of the next step (diffusers' {@code _step_index}). */
    int stepIndex;

    SchedulerRun(Scheduler scheduler, Schedule schedule, int beginIndex, boolean beginIndexSet) {
        if (beginIndex < 0 || beginIndex >= schedule.size()) {
            throw new IllegalArgumentException("begin index " + beginIndex + " outside the schedule of "
                    + schedule.size() + " timesteps");
        }
        this.scheduler = scheduler;
        this.schedule = schedule;
        this.beginIndex = beginIndex;
        this.beginIndexSet = beginIndexSet;
        this.stepIndex = beginIndex;
    }

    public Schedule schedule() {
        return schedule;
    }

    /** Number of {@link #step} calls in this run (= UNet calls). */
    public int size() {
        return schedule.size() - beginIndex;
    }

    /** How many steps were taken; the next {@link #step} is step number {@code stepsTaken()}. */
    public int stepsTaken() {
        return stepIndex - beginIndex;
    }

    public boolean finished() {
        return stepIndex >= schedule.size();
    }

    /** The timesteps this run steps through (int64 or float32, exactly diffusers' values). */
    public Tensor timesteps() {
        return schedule.timesteps(beginIndex);
    }

    /** The value of the {@code i}-th timestep of this run. */
    public double timestepValue(int i) {
        return schedule.timestep(beginIndex + i);
    }

    /** The 0-dim timestep tensor for the UNet at step {@code i} of this run (int64 or float32). */
    public Tensor timestep(int i) {
        double t = timestepValue(i);
        return schedule.integerTimesteps() ? Tensors.fromLongs(new long[] {(long) t}) : Tensors.fromFloats(new float[] {(float) t});
    }

    /** The 0-dim timestep tensor of the next step. */
    public Tensor currentTimestep() {
        checkNotFinished();
        return timestep(stepsTaken());
    }

    /** The standard deviation of the initial noise: multiply the randn latents by it. */
    public float initNoiseSigma() {
        return schedule.initNoiseSigma();
    }

    /** {@code scale_model_input(sample, t)} for the next step: what to feed the UNet. */
    public Tensor scaleModelInput(Tensor sample) {
        checkNotFinished();
        return sample;
    }

    /**
     * {@code step(model_output, t, sample, generator)} at the next timestep; advances the run.
     *
     * @param generator the run's generator; the stochastic schedulers draw from it exactly as diffusers
     *     (DDPM and Euler a: one randn of the sample's shape per step; DDIM only with eta > 0); the
     *     others ignore it, so it may be null for them
     */
    public final StepOutput step(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
        checkNotFinished();
        Objects.requireNonNull(modelOutput, "modelOutput");
        Objects.requireNonNull(sample, "sample");
        StepOutput out = doStep(modelOutput, sample, generator);
        stepIndex++;
        if (finished()) releaseState();
        return out;
    }

    abstract StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator);

    /**
     * {@code add_noise(original, noise, timesteps)} as on this run's scheduler: DDPM/DDIM/PNDM use
     * alphas_cumprod at the given timesteps; the sigma-based schedulers take the sigma of each timestep
     * from the schedule, or, in an image-to-image run (begin index set), the sigma at the current step
     * (Pitfall 6). Use it to noise the init latents to {@code timestep(0)}.
     */
    public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
        // the alpha-based schedulers share DDPM's add_noise (diffusers' "Copied from"); sigma-based runs override
        return scheduler.tables().addNoise(original, noise, timesteps);
    }

    /** scale_model_input of the sigma-based schedulers: sample / sqrt(sigma^2 + 1) at the current step. */
    final Tensor sigmaScaledInput(Tensor sample) {
        checkNotFinished();
        float sigma = schedule.sigma(stepIndex);
        return sample.div(SchedulerTensors.s(NumpyMath.sqrt(sigma * sigma + 1f)));
    }

    /** add_noise of the sigma-based schedulers (Euler, Euler a, LMS, Heun): x0 + noise * sigma. */
    final Tensor sigmaAddNoise(Tensor original, Tensor noise, Tensor timesteps) {
        return SchedulerTensors.sigmaAddNoise(schedule, sigmaIndices(timesteps), original, noise);
    }

    /**
     * {@code get_velocity(sample, noise, timesteps)}: the v-prediction target, where diffusers has it
     * (DDPM's, "Copied from" in DDIM, LCM and TCD; Euler's own).
     */
    public Tensor getVelocity(Tensor sample, Tensor noise, Tensor timesteps) {
        return switch (scheduler.kind()) {
            case DDPM, DDIM, LCM, TCD -> scheduler.tables().velocity(sample, noise, timesteps);
            default -> throw new JDiffusionException(schedulerName() + " has no get_velocity in diffusers; use DDPM or DDIM");
        };
    }

    final String schedulerName() {
        return scheduler.kind().className();
    }

    /** Sigma-schedule indices for add_noise, as diffusers' sigma-based {@code add_noise} picks them. */
    final int[] sigmaIndices(Tensor timesteps) {
        double[] ts = SchedulerTensors.values(timesteps);
        int[] idx = new int[ts.length];
        for (int i = 0; i < ts.length; i++) {
            if (!beginIndexSet) {
                idx[i] = indexOrFail(ts[i]);
            } else {
                // before the first step this is the begin index (img2img); later the current step (inpaint);
                // after the last step the final sigma, as diffusers' step_index then points past the timesteps
                idx[i] = stepIndex;
            }
        }
        return idx;
    }

    /** index_for_timestep; DPM and UniPC fall back to the last index for an unknown timestep. */
    int indexOrFail(double t) {
        int i = schedule.indexForTimestep(t);
        if (i < 0) {
            throw new JDiffusionException("timestep " + t + " is not in the " + schedulerName() + " schedule");
        }
        return i;
    }

    void checkNotFinished() {
        if (finished()) throw new IllegalStateException("the run is finished: all " + size() + " steps were taken");
    }

    /** Drops every tensor kept between steps. Idempotent. */
    void releaseState() {}

    /** How many tensors the run keeps between steps right now (for tests). */
    int heldCount() {
        return 0;
    }

    @Override
    public final void close() {
        releaseState();
    }
}
