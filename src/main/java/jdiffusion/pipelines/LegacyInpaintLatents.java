package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import jdiffusion.image.Images;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Inpainting with an ordinary 4-channel UNet (diffusers' StableDiffusionInpaintPipelineLegacy):
 * img2img whose known region is re-imposed after every step, noised to that step's timestep.
 *
 * @param keep {@code [B, 4, h, w]} 1 = keep the init latents, 0 = repaint
 */
record LegacyInpaintLatents(ImageToImageLatents image, Tensor keep) implements LatentInputs {
    @Override
    public Tensor latents() {
        return image.latents();
    }

    /** The known region noised to the CURRENT step's t (not the next one), as diffusers does. */
    @Override
    public Tensor afterStep(Tensor next, SchedulerRun steps, Tensor t) {
        Tensor known = steps.addNoise(image.initLatents(), image.noise(), t.reshape(1));
        return blend(known, next);
    }

    /** After the loop, the un-noised init latents once more outside the mask. */
    @Override
    public Tensor finish(Tensor latents) {
        return blend(image.initLatents(), latents);
    }

    private Tensor blend(Tensor known, Tensor generated) {
        return known.mul(keep).add(generated.mul(keep.neg().add(new Scalar(1.0))));
    }

    /** @param mask the (blurred) mask image at the output size: white = repaint, grey in between */
    static LegacyInpaintLatents prepare(VAEImageCodec codec, Tensor image, BufferedImage mask, long[] shape,
                                        SchedulerRun steps, TorchGenerator generator, VAETiling tiling, Device device) {
        Tensor initLatents = codec.encode(image, generator, tiling).repeat(shape[0], 1, 1, 1);
        ImageToImageLatents noised = ImageToImageLatents.prepare(initLatents, steps, generator, device);
        // diffusers' preprocess_mask at latent size, for any vae_scale_factor
        Tensor keep = Images.legacyInpaintKeepMask(mask, (int) shape[3], (int) shape[2]).to(device, ScalarType.Float)
                .expand(shape[0], shape[1], shape[2], shape[3]).contiguous();
        return new LegacyInpaintLatents(noised, keep);
    }
}
