package jdiffusion.pipelines;

import org.bytedeco.pytorch.Tensor;

/**
 * Called after every denoising step. It sees the latents the scheduler produced and may return
 * replacement latents (same shape, float32); returning null keeps them. Throwing
 * {@link GenerationCancelledException} stops the run before the next step, writing nothing.
 */
@FunctionalInterface
public interface StepCallback {
    /**
     * @param step       0-based index of the step just taken
     * @param totalSteps UNet steps in this run
     * @param timestep   the timestep value of the step just taken
     * @param latents    {@code [B, 4, h, w]} float32 after the step (owned by the step's scope)
     */
    Tensor onStep(int step, int totalSteps, double timestep, Tensor latents);

    StepCallback NONE = (step, total, t, latents) -> null;
}
