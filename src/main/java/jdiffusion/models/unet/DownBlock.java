package jdiffusion.models.unet;

import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * A down block of the UNet: the two diffusers classes SD uses, with one call shape. Public so that
 * training code can run the UNet block by block (gradient checkpointing).
 */
public sealed interface DownBlock permits CrossAttnDownBlock2D, DownBlock2D {
    /**
     * The block's output and the skip connections it leaves for the up path, in order. The output
     * is always the last skip connection (the last resnet/attention pair's, or the downsampler's).
     */
    record Output(Tensor hidden, List<Tensor> residuals) {}

    /** hidden [B, in, H, W], temb [B, T], context [B, M, D] (unused without attention). */
    Output forward(Tensor hidden, Tensor temb, Tensor context);
}
