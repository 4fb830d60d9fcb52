package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;

/**
 * One depth-to-image generation: an image-to-image request ({@code initImage}, {@code strength} and
 * the usual prompt and sampler options) and, optionally, the depth map to follow; without one the
 * pipeline's DPT estimates it from the image.
 *
 * <pre>{@code
 * var r = new DepthToImageRequest(GenerationRequest.builder("a castle").initImage(img).strength(0.8).build(), null);
 * }</pre>
 */
public record DepthToImageRequest(GenerationRequest generation, DepthMap depthMap) {
    public DepthToImageRequest {
        if (generation.initImage() == null) throw new JDiffusionException("depth2img needs --init-image: it redraws an image");
        if (generation.isInpainting()) throw new JDiffusionException("depth2img takes no --mask");
        if (generation.hires() != null) throw new JDiffusionException("--hires-scale is a txt2img option");
    }
}
