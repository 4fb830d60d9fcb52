package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;
import org.bytedeco.pytorch.Tensor;

/**
 * Guidance by a differentiable loss on the predicted clean image, as the diffusion course's
 * unit 2 notebook steers sampling: at each step, x0 = the scheduler's {@code pred_original_sample},
 * loss = {@code loss(x0) * scale}, x moves against d loss / d x, then the scheduler steps from the
 * moved x with the same noise prediction.
 *
 * @param loss            x0 [B, C, H, W] in [-1, 1] -> a scalar tensor (built with autograd on)
 * @param scale           the notebook's {@code guidance_loss_scale}
 * @param gradThroughUnet when true the noise prediction is part of the graph (d loss / d x includes the
 *                        UNet's Jacobian: the notebook's second variant, slower); otherwise only x0's
 *                        direct dependence on x counts
 */
public record PixelGuidance(Loss loss, double scale, boolean gradThroughUnet) {
    /** A differentiable loss on the predicted clean images. */
    @FunctionalInterface
    public interface Loss {
        /** x0 [B, C, H, W] in [-1, 1] -> a 0-dim tensor. */
        Tensor apply(Tensor x0);
    }

    public PixelGuidance {
        if (loss == null) throw new JDiffusionException("guidance needs a loss");
        if (!Double.isFinite(scale) || scale < 0 || scale > 1e6) {
            throw new JDiffusionException("the guidance scale must be between 0 and 1e6, got " + scale);
        }
    }
}
