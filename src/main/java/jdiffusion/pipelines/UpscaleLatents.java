package jdiffusion.pipelines;

import org.bytedeco.pytorch.Tensor;

/**
 * The x4 upscaler (diffusers' StableDiffusionUpscalePipeline): noise at the low-resolution size, and
 * the noised low-resolution image (pixels, not latents) as 3 more UNet input channels.
 *
 * @param noisedImage {@code [B, 3, h, w]} the image in [-1, 1] after the low-res scheduler's add_noise
 */
record UpscaleLatents(Tensor latents, Tensor noisedImage) implements LatentInputs {
    @Override
    public Tensor extraChannels() {
        return noisedImage;
    }
}
