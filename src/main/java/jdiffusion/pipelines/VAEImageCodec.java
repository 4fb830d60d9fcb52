package jdiffusion.pipelines;

import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderTiny;
import jdiffusion.models.vae.DiagonalGaussianDistribution;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Images to scaled latents and back through a pipeline's VAE, in tiles when {@link VAETiling} says
 * so: diffusers' {@code retrieve_latents(vae.encode(image), generator) * scaling_factor} and
 * {@code vae.decode(latents / scaling_factor)}; with a TAESD decoder ({@code tinyDecoder}, or null)
 * the decode is {@code taesd.decode(latents / its scaling_factor)}.
 */
record VAEImageCodec(AutoencoderKL vae, AutoencoderTiny tinyDecoder) {
    VAEImageCodec(AutoencoderKL vae) {
        this(vae, null);
    }

    /** Pixels per latent pixel: 2^(number of VAE blocks - 1), 8 for Stable Diffusion (4 for the x4 upscaler). */
    int scaleFactor() {
        return 1 << (vae.config().blockOutChannels().size() - 1);
    }

    /** VAE latents of an image in [-1, 1], sampled with the generator and scaled, float32. */
    Tensor encode(Tensor image, TorchGenerator generator, VAETiling tiling) {
        DiagonalGaussianDistribution posterior = tiling.tiles(image.size(2), image.size(3), vae.defaultTiling().tileSampleSize())
                ? vae.encodeTiled(image, vae.defaultTiling()) : vae.encode(image);
        return posterior.sample(generator).to(ScalarType.Float).mul(new Scalar(vae.scalingFactor()));
    }

    /** Scaled latents back to pixels [B, 3, H, W] in [-1, 1], float32. */
    Tensor decode(Tensor latents, VAETiling tiling) {
        if (tinyDecoder != null) return tinyDecoder.decode(latents.div(new Scalar(tinyDecoder.scalingFactor()))).to(ScalarType.Float);
        Tensor z = latents.div(new Scalar(vae.scalingFactor()));
        int f = scaleFactor();
        Tensor decoded = tiling.tiles(z.size(2) * f, z.size(3) * f, vae.defaultTiling().tileSampleSize())
                ? vae.decodeTiled(z, vae.defaultTiling()) : vae.decode(z);
        return decoded.to(ScalarType.Float);
    }
}
