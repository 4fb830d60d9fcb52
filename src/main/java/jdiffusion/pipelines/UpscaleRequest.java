package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;

/**
 * One x4 upscale: the low-resolution image as the request's {@code initImage}, the prompt and sampler
 * options, and the {@code noise_level} the image is noised to (diffusers' default 20; higher lets
 * the model invent more detail, up to the model's {@code max_noise_level}, 350).
 *
 * <pre>{@code
 * var r = new UpscaleRequest(UpscaleRequest.defaults("a white cat").initImage(small).seed(42).build(), 20);
 * }</pre>
 */
public record UpscaleRequest(GenerationRequest generation, int noiseLevel) {
    /** diffusers' StableDiffusionUpscalePipeline defaults. */
    public static final int DEFAULT_STEPS = 75;
    public static final double DEFAULT_GUIDANCE_SCALE = 9.0;
    public static final int DEFAULT_NOISE_LEVEL = 20;

    public UpscaleRequest {
        if (generation.initImage() == null) throw new JDiffusionException("upscale needs --image: the low-resolution image");
        if (generation.isInpainting()) throw new JDiffusionException("upscale takes no --mask");
        if (generation.hires() != null) throw new JDiffusionException("--hires-scale is a txt2img option");
        if (generation.width() != 0 || generation.height() != 0) {
            throw new JDiffusionException("upscale takes no --width/--height: the output is 4x --image's size");
        }
        if (noiseLevel < 0) throw new JDiffusionException("--noise-level must be >= 0, not " + noiseLevel);
    }

    /** A builder with the upscaler's defaults: 75 steps, guidance 9. */
    public static GenerationRequest.Builder defaults(String prompt) {
        return GenerationRequest.builder(prompt).steps(DEFAULT_STEPS).guidanceScale(DEFAULT_GUIDANCE_SCALE);
    }
}
