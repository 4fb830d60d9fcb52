package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;

/**
 * AUTOMATIC1111's "hires fix": txt2img at the requested size, then the result enlarged by
 * {@code scale} ({@link HiresUpscaler}) and redrawn as img2img with {@code denoisingStrength}.
 *
 * <pre>{@code
 * GenerationRequest.builder("a castle").size(512, 512).hires(HiresFix.of(2, HiresUpscaler.LATENT, 0.7)).build();
 * }</pre>
 *
 * @param scale             the second pass's size over the first's (A1111 "Hires upscale"), 1 to 8
 * @param steps             second-pass steps; 0 = as many as the first pass (A1111 "Hires steps")
 * @param denoisingStrength how much of the second pass's stretched schedule runs (A1111 "Denoising strength")
 * @param sampler           the second pass's sampler; null = the first pass's (A1111 "Hires sampler")
 * @param prompt            the second pass's prompt; null = the first pass's (A1111 "Hires prompt")
 * @param negativePrompt    the second pass's negative prompt; null = the first pass's
 */
public record HiresFix(double scale, HiresUpscaler upscaler, int steps, double denoisingStrength, String sampler,
                       String prompt, String negativePrompt) {
    /** A1111's defaults: 2x, "Latent", the first pass's steps, strength 0.7. */
    public static final double DEFAULT_SCALE = 2.0;
    public static final double DEFAULT_DENOISING_STRENGTH = 0.7;
    public static final double MAX_SCALE = 8.0;

    public HiresFix {
        if (!Double.isFinite(scale) || scale < 1 || scale > MAX_SCALE) {
            throw new JDiffusionException("--hires-scale must be between 1 and " + MAX_SCALE + ", not " + scale);
        }
        if (upscaler == null) upscaler = HiresUpscaler.LATENT;
        if (steps < 0 || steps > GenerationRequest.MAX_STEPS) {
            throw new JDiffusionException("--hires-steps must be between 0 and " + GenerationRequest.MAX_STEPS + ", not " + steps);
        }
        if (!Double.isFinite(denoisingStrength) || denoisingStrength <= 0 || denoisingStrength > 1) {
            throw new JDiffusionException("--denoising-strength must be in (0, 1], not " + denoisingStrength);
        }
    }

    public static HiresFix of(double scale, HiresUpscaler upscaler, double denoisingStrength) {
        return new HiresFix(scale, upscaler, 0, denoisingStrength, null, null, null);
    }

    /** A1111's size of the second pass: {@code int(side * scale) // 8 * 8}, as processing.py rounds "Hires upscale by". */
    int targetSide(int side, int multiple) {
        return (int) (side * scale) / multiple * multiple;
    }
}
