package jdiffusion.tools.bench;

import java.util.List;

/**
 * One benchmark configuration's figures (seconds, bytes, FLOPs).
 *
 * @param stepSeconds      every denoising step, the first included (it builds oneDNN's kernels)
 * @param unetStepSeconds  median of the steps after the first: one CFG step, i.e. one batched UNet
 *                         evaluation of batch 2, the guidance mix and the scheduler update
 * @param totalSeconds     text encode + every step + VAE decode (one image, model loaded)
 * @param peakRssBytes     VmHWM from the load of this configuration to its end
 * @param peakRssLoadBytes VmHWM after load (the models in memory, and the load's transients)
 * @param peakRssDenoiseBytes VmHWM after the denoising loop (before the VAE decode)
 * @param unetFlops        one UNet evaluation at batch 2
 * @param unetStepBreakdown time per kind of op in one step (mean over all steps)
 * @param finite           whether the latents and the decoded image hold no NaN or infinity
 */
public record BenchRun(String dtype, int size, int steps, double loadSeconds, double textEncodeSeconds,
                       List<Double> stepSeconds, double unetStepSeconds, double vaeDecodeSeconds, double totalSeconds,
                       long peakRssBytes, long peakRssLoadBytes, long peakRssDenoiseBytes, FlopCount unetFlops, FlopCount vaeFlops, double unetGflopsPerSecond,
                       double vaeGflopsPerSecond, Breakdown unetStepBreakdown, Breakdown vaeDecodeBreakdown,
                       boolean finite) {}
