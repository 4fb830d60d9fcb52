package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;

/**
 * The arguments of a DDPMPipeline/DDIMPipeline call ({@code pipe(batch_size, generator,
 * num_inference_steps, eta)}), plus the class label of a class-conditioned model and an optional
 * guidance loss applied at every step (the diffusion course's unit 2 guided loop).
 *
 * @param classLabel    the class of every image, or null for an unconditional model
 * @param guidance      null for plain sampling
 * @param guidanceScale classifier-free guidance of a class-conditioned model that also learned "no class"
 *                      ({@code train-class-conditioned --class-dropout}): noise = uncond + scale * (cond -
 *                      uncond), two UNet passes per step; 1 = the conditional prediction alone (one pass)
 */
public record PixelRequest(int batchSize, int steps, long seed, Integer classLabel, PixelGuidance guidance,
                           double guidanceScale) {
    public PixelRequest {
        if (batchSize < 1 || batchSize > 4096) throw new JDiffusionException("the number of images must be 1 to 4096, got " + batchSize);
        if (steps < 1) throw new JDiffusionException("the number of steps must be at least 1, got " + steps);
        if (!(guidanceScale >= 0 && guidanceScale <= 100)) {
            throw new JDiffusionException("--guidance-scale must be 0 to 100, got " + guidanceScale);
        }
    }

    /** Without classifier-free guidance. */
    public PixelRequest(int batchSize, int steps, long seed, Integer classLabel, PixelGuidance guidance) {
        this(batchSize, steps, seed, classLabel, guidance, 1.0);
    }

    /** Unconditional, unguided sampling. */
    public static PixelRequest of(int batchSize, int steps, long seed) {
        return new PixelRequest(batchSize, steps, seed, null, null);
    }
}
