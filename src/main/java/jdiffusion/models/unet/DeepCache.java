package jdiffusion.models.unet;

import jdiffusion.JDiffusionException;
import org.bytedeco.pytorch.Tensor;

/**
 * DeepCache (Ma, Fang and Wang, "DeepCache: Accelerating Diffusion Models for Free", CVPR 2024) at
 * branch 0, as {@code DeepCacheSDHelper.set_params(cache_interval=N, cache_branch_id=0)} of the
 * authors' package runs a diffusers UNet: the high-level features change little from one step to
 * the next, so every N-th UNet call of a run (the first included) is a full forward that keeps the
 * input of the UNet's last layer, and the calls in between compute only the shallow path on it
 * (time embedding, conv_in, the last up block's last resnet and transformer, the output layers).
 * For SD 1.5 that path is a small part of a step, so N = 3 runs roughly twice as fast, at a small
 * cost in quality (docs/speed.md measures both).
 *
 * <p>One instance serves one denoising run: it counts the calls and holds the kept features (one
 * reference, outside any scope) until the next full call or {@link #close}. Calls are counted from
 * the run's first one, so an img2img run that starts part-way down the schedule begins with a full
 * call. It counts UNet calls, where the authors' helper counts distinct timesteps: the same for
 * every one-call-per-step sampler (Euler, DDIM, DPM++ 2M, ...); for those that call the UNet twice
 * at some timesteps (Heun, DPM2, PNDM's first steps) N is in calls, not in timesteps.
 *
 * <pre>{@code
 * try (DeepCache cache = new DeepCache(unet, 3)) {
 *     for (int i = 0; i < run.size(); i++) {
 *         Tensor noise = cache.forward(input, run.timestep(i), context, null);
 *         ...
 *     }
 * }
 * }</pre>
 */
public final class DeepCache implements AutoCloseable {
    /** The largest interval accepted: beyond a run's length every call after the first reuses the first. */
    public static final int MAX_INTERVAL = 1000;

    private final UNet2DConditionModel unet;
    private final int interval;
    private int calls;
    private Tensor kept; // the last layer's input from the latest full call, one reference held

    /**
     * @param interval N: one full UNet call every N calls (1 = every call is full, i.e. no caching)
     */
    public DeepCache(UNet2DConditionModel unet, int interval) {
        check(interval);
        this.unet = unet;
        this.interval = interval;
    }

    /** Throws the one-line error for an interval outside 1..{@link #MAX_INTERVAL}. */
    public static void check(int interval) {
        if (interval < 1 || interval > MAX_INTERVAL) {
            throw new JDiffusionException("--deepcache must be an interval from 1 to " + MAX_INTERVAL
                    + " (one full UNet call every N steps; 0 turns it off), not " + interval);
        }
    }

    /**
     * The UNet's prediction for this call of the run, as {@link UNet2DConditionModel#forward(Tensor,
     * Tensor, Tensor, Tensor)} returns it: from a full forward on every {@code interval}-th call, from
     * the shallow path on the kept features otherwise.
     */
    public Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Tensor classLabels) {
        boolean full = kept == null || calls % interval == 0; // nothing kept yet (or a full call failed): full
        calls++;
        if (!full) {
            if (kept.size(0) != sample.size(0) || kept.size(2) != sample.size(2) || kept.size(3) != sample.size(3)) {
                throw new JDiffusionException("DeepCache: the batch or size changed within one run");
            }
            return unet.forwardShallow(sample, timestep, encoderHiddenStates, classLabels, kept);
        }
        return unet.forward(sample, timestep, encoderHiddenStates, classLabels, this::keep);
    }

    private void keep(Tensor lastLayerInput) {
        release();
        lastLayerInput.retainReference(); // outlives the caller's step scope
        kept = lastLayerInput;
    }

    private void release() {
        if (kept != null) {
            kept.releaseReference();
            kept = null;
        }
    }

    /** Frees the kept features. */
    @Override
    public void close() {
        release();
    }
}
