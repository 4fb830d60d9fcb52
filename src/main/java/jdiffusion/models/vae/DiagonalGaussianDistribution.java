package jdiffusion.models.vae;

import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * diffusers models/autoencoders/vae.py {@code DiagonalGaussianDistribution}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/vae.py):
 * the encoder's posterior N(mean, exp(logvar)), from the moments split in half along channels.
 * The log-variance is clamped to [-30, 20] as in diffusers. Tensors belong to the PointerScope
 * that was open when {@link AutoencoderKL#encode} ran.
 */
public final class DiagonalGaussianDistribution {
    private final Tensor mean;   // [B, latent, h, w]
    private final Tensor logvar; // [B, latent, h, w], clamped
    private final Tensor std;    // exp(0.5 * logvar)

    /** moments [B, 2*latent, h, w]: mean first, log-variance second. */
    public DiagonalGaussianDistribution(Tensor moments) {
        TensorVector halves = moments.chunk(2, 1);
        mean = halves.get(0);
        logvar = halves.get(1).clamp(new ScalarOptional(new Scalar(-30.0)), new ScalarOptional(new Scalar(20.0)));
        std = logvar.mul(new Scalar(0.5)).exp();
    }

    public Tensor mean() {
        return mean;
    }

    public Tensor logvar() {
        return logvar;
    }

    public Tensor std() {
        return std;
    }

    /** The most likely latent: the mean (diffusers' {@code mode()}, "argmax" sampling). */
    public Tensor mode() {
        return mean;
    }

    /**
     * mean + std * noise, noise = one {@code torch.randn(mean.shape, generator)} draw as diffusers'
     * {@code randn_tensor} makes it: on the generator's CPU, in float32, then moved to the latents'
     * device and dtype. (For bf16/fp16 latents torch would draw in that dtype directly; float32
     * then cast differs by rounding only.)
     */
    public Tensor sample(TorchGenerator generator) {
        Tensor noise = generator.randn(mean.sizes().vec().get()).to(mean.device(), mean.scalar_type());
        return mean.add(std.mul(noise));
    }
}
