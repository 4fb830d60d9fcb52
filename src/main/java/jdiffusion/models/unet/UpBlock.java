package jdiffusion.models.unet;

import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * An up block of the UNet: the two diffusers classes SD uses, with one call shape. Public so that
 * training code can run the UNet block by block (gradient checkpointing).
 */
public sealed interface UpBlock permits CrossAttnUpBlock2D, UpBlock2D {
    /** How many skip connections the block consumes (one per resnet). */
    int numResnets();

    /**
     * hidden [B, prev, H, W]; residuals: this block's skip connections, oldest first (consumed from
     * the end); upsampleSize: [h, w] to upsample to, or null for ×2.
     */
    Tensor forward(Tensor hidden, List<Tensor> residuals, Tensor temb, Tensor context, long[] upsampleSize);
}
