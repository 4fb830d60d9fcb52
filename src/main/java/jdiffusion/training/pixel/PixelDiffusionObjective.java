package jdiffusion.training.pixel;

import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The pixel-space DDPM loss of the diffusion course (units 1 and 2) and of diffusers'
 * train_unconditional.py: noise at a uniformly drawn timestep ({@code add_noise}), the UNet's
 * prediction of that noise, MSE averaged over every element.
 */
public final class PixelDiffusionObjective {
    private final PixelDenoiser unet;
    private final DDPMScheduler noiseScheduler;

    public PixelDiffusionObjective(PixelDenoiser unet, DDPMScheduler noiseScheduler) {
        this.unet = unet;
        this.noiseScheduler = noiseScheduler;
    }

    /**
     * The loss of {@code clean} [B, C, H, W] in [-1, 1] (with {@code labels} [B] for a class-conditioned
     * model, else null); noise then timesteps are drawn from {@code rng} in that order.
     */
    public Tensor loss(Tensor clean, Tensor labels, TorchGenerator rng) {
        Tensor noise = rng.randn(clean.sizes().vec().get());
        Tensor timesteps = rng.randint(0, noiseScheduler.config().numTrainTimesteps(), clean.size(0));
        return loss(clean, noise, timesteps, labels);
    }

    /** The loss with given {@code noise} (clean's shape) and int64 {@code timesteps} [B]. */
    public Tensor loss(Tensor clean, Tensor noise, Tensor timesteps, Tensor labels) {
        Tensor noisy = noiseScheduler.addNoise(clean, noise, timesteps);
        Tensor pred = unet.forward(noisy, timesteps, labels);
        return torch.mse_loss(pred, noise);
    }
}
