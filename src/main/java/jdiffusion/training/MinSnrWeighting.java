package jdiffusion.training;

import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Min-SNR loss weighting (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting
 * Strategy"; diffusers' training scripts' {@code --snr_gamma} with {@code compute_snr}): each
 * sample's MSE is weighted by min(SNR(t), gamma) / SNR(t) for an epsilon target and
 * min(SNR(t), gamma) / (SNR(t) + 1) for a velocity target, where SNR(t) = alphā_t / (1 - alphā_t).
 * The nearly noise-free timesteps, whose noise is hard to see and whose gradients otherwise
 * dominate, stop pulling against the noisy ones where an image's layout is decided.
 */
public final class MinSnrWeighting {
    private MinSnrWeighting() {}

    /** Checks a user's gamma: 0 turns the weighting off. */
    public static double checkGamma(double gamma) {
        if (!(gamma >= 0) || Double.isInfinite(gamma)) {
            throw new JDiffusionException("snr gamma must be >= 0 (0 = off), got " + gamma);
        }
        return gamma;
    }

    /** The weights of int64 {@code timesteps} [B] under {@code scheduler}'s schedule: float32 [B]. */
    public static Tensor weights(DDPMScheduler scheduler, Tensor timesteps, double gamma, boolean velocity) {
        float[] alphasCumprod = scheduler.alphasCumprod();
        long[] t = Tensors.toLongs(timesteps);
        float[] w = new float[t.length];
        for (int i = 0; i < t.length; i++) {
            double a = alphasCumprod[(int) t[i]];
            double snr = a / (1 - a);
            double clipped = Math.min(snr, gamma);
            w[i] = (float) (velocity ? clipped / (snr + 1) : clipped / snr);
        }
        return Tensors.fromFloats(w, t.length);
    }

    /** The weighted MSE of {@code pred} against {@code target} (both [B, ...], float32): a scalar. */
    public static Tensor loss(Tensor pred, Tensor target, Tensor weights) {
        Tensor perSample = pred.sub(target).square().reshape(pred.size(0), -1).mean(new long[] {1}); // [B]
        return perSample.mul(weights).mean();
    }
}
