package jdiffusion.pipelines;

import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Inpainting with a 9-channel UNet (diffusers' StableDiffusionInpaintPipeline): the UNet sees the
 * latents, the mask and the masked image's latents.
 *
 * @param mask               {@code [B, 1, h, w]} 1 = repaint, nearest-resized to the latent size
 * @param maskedImageLatents {@code [B, 4, h, w]} latents of the image with the area to repaint blanked
 */
record InpaintLatents(Tensor latents, Tensor mask, Tensor maskedImageLatents) implements LatentInputs {
    @Override
    public Tensor extraChannels() {
        return torch.cat(new TensorVector(mask, maskedImageLatents), 1);
    }

    /**
     * @param image [1, 3, H, W] in [-1, 1]
     * @param mask  [1, 1, H, W], binary: 1 = repaint
     */
    static InpaintLatents prepare(VAEImageCodec codec, Tensor image, Tensor mask, long[] shape, double strength,
                                  SchedulerRun steps, TorchGenerator generator, VAETiling tiling, Device device) {
        long batch = shape[0];
        Tensor latents;
        if (strength == 1.0) {
            // pure noise start: the noise draws first, then the masked image's VAE sample
            latents = generator.randn(shape).to(device, ScalarType.Float).mul(new Scalar(steps.initNoiseSigma()));
        } else {
            Tensor initLatents = codec.encode(image, generator, tiling).repeat(batch, 1, 1, 1);
            latents = ImageToImageLatents.prepare(initLatents, steps, generator, device).latents();
        }
        Tensor masked = image.mul(mask.lt(new Scalar(0.5)).to(ScalarType.Float));
        Tensor maskedLatents = codec.encode(masked, generator, tiling).repeat(batch, 1, 1, 1);
        Tensor smallMask = torch.upsample_nearest2d(mask, shape[2], shape[3]).to(device, ScalarType.Float).repeat(batch, 1, 1, 1);
        return new InpaintLatents(latents, smallMask, maskedLatents);
    }
}
