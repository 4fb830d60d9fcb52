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
    default Tensor forward(Tensor hidden, List<Tensor> residuals, Tensor temb, Tensor context, long[] upsampleSize) {
        return upsample(forwardLayers(hidden, residuals, temb, context, 0, numResnets()), upsampleSize);
    }

    /**
     * Layers {@code from} to {@code to - 1} alone (each a resnet fed hidden and its skip connection,
     * then the transformer if the block has them), without the upsampler: what {@link #forward} runs
     * in pieces when a caller needs a layer's input (DeepCache keeps the last layer's).
     *
     * @param residuals skip connections, oldest first, consumed from the end as in {@link #forward}:
     *                  layer {@code from} takes the last, layer j {@code residuals.get(size - 1 - (j - from))}
     */
    Tensor forwardLayers(Tensor hidden, List<Tensor> residuals, Tensor temb, Tensor context, int from, int to);

    /** The block's upsampler on {@code hidden} (see {@link #forward}), or hidden itself in the last block. */
    Tensor upsample(Tensor hidden, long[] upsampleSize);
}
