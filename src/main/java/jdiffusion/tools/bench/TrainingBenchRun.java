package jdiffusion.tools.bench;

import java.util.List;

/**
 * One training benchmark configuration's figures (seconds, bytes).
 *
 * @param mode                  "full" (every UNet parameter trained), "lora" (rank-{@code rank} adapters, UNet
 *                              frozen) or "only PREFIX" (the UNet parameters whose names start with PREFIX)
 * @param rank                  LoRA rank; 0 for a full fine-tune
 * @param resolution            image side in pixels; the latents are resolution / the VAE's factor
 * @param mixedPrecision        "bf16" (CPU autocast) or "no" (float32), as diffusers' --mixed_precision
 * @param trainableParameters   elements the optimiser updates
 * @param setupSeconds          loading the UNet and building the optimiser (and the adapters)
 * @param stepSeconds           every optimiser step, the warm-up step first (it builds oneDNN's kernels)
 * @param medianStepSeconds     the median of the steps after the warm-up: forward, backward, clipping, AdamW
 * @param residentAfterSetupBytes VmRSS once the model and the optimiser's moments are in memory
 * @param peakRssBytes          VmHWM over the steps (its peak reset after setup); minus the resident size
 *                              above, what training adds: activations, gradients, the backward's transients
 * @param losses                every step's loss
 * @param finite                whether every loss was finite
 */
public record TrainingBenchRun(String mode, int rank, int resolution, int batch, String mixedPrecision,
                               boolean gradientCheckpointing, int threads, long trainableParameters, double setupSeconds,
                               List<Double> stepSeconds, double medianStepSeconds, long residentAfterSetupBytes,
                               long peakRssBytes, List<Double> losses, boolean finite) {

    /** Peak resident memory above the resident size after setup: what the training steps added. */
    public long peakAboveSetupBytes() {
        return peakRssBytes - residentAfterSetupBytes;
    }
}
