package jdiffusion.pipelines;

import org.bytedeco.pytorch.Tensor;

/**
 * Depth-to-image (diffusers' StableDiffusionDepth2ImgPipeline): image-to-image latents plus the depth
 * map as the UNet's 5th input channel.
 *
 * @param depth {@code [B, 1, h, w]} the depth at the latent size, min-max scaled to [-1, 1] per image
 */
record DepthLatents(ImageToImageLatents image, Tensor depth) implements LatentInputs {
    @Override
    public Tensor latents() {
        return image.latents();
    }

    @Override
    public Tensor extraChannels() {
        return depth;
    }
}
