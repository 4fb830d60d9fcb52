package jdiffusion.training.pixel;

import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.MinSnrWeighting;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The pixel-space DDPM loss of the diffusion course (units 1 and 2) and of diffusers'
 * train_unconditional.py: noise at a uniformly drawn timestep ({@code add_noise}), the UNet's
 * prediction of that noise, MSE averaged over every element; optionally Min-SNR weighted
 * ({@link MinSnrWeighting}, the training scripts' {@code --snr_gamma}).
 */
public final class PixelDiffusionObjective {
    private final PixelDenoiser unet;
    private final DDPMScheduler noiseScheduler;
    private final double snrGamma;

    /** The course's plain MSE. */
    public PixelDiffusionObjective(PixelDenoiser unet, DDPMScheduler noiseScheduler) {
        this(unet, noiseScheduler, 0);
    }

    /** Each sample's MSE weighted by min(SNR(t), snrGamma) / SNR(t); 0 = the plain MSE. */
    public PixelDiffusionObjective(PixelDenoiser unet, DDPMScheduler noiseScheduler, double snrGamma) {
        this.unet = unet;
        this.noiseScheduler = noiseScheduler;
        this.snrGamma = MinSnrWeighting.checkGamma(snrGamma);
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
        if (snrGamma == 0) return torch.mse_loss(pred, noise);
        Tensor weights = MinSnrWeighting.weights(noiseScheduler, timesteps, snrGamma, false);
        return MinSnrWeighting.loss(pred.to(ScalarType.Float), noise.to(ScalarType.Float), weights);
    }
}
