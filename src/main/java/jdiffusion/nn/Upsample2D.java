package jdiffusion.nn;

import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/upsampling.py {@code Upsample2D} with use_conv=True, interpolate=True
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/upsampling.py):
 * nearest-neighbour ×2 (or to an explicit size), then a 3x3 convolution.
 *
 * <p>diffusers casts bf16 to float32 around the interpolation for torch &lt; 2.1; libtorch 2.10
 * has a bf16 nearest kernel, and nearest only copies values, so no cast is needed.
 */
public final class Upsample2D extends JavaModule {
    private final Conv2dImpl conv; // [out, channels, 3, 3]

    public Upsample2D(long channels, long outChannels) {
        conv = register_module("conv", Layers.conv2d(channels, outChannels, 3, 1, 1));
    }

    /**
     * x [B, C, H, W] -> [B, out, 2H, 2W], or [B, out, outputSize[0], outputSize[1]] when the UNet
     * asks for the size of the matching skip connection (inputs not divisible by 2^upsamplers).
     */
    public Tensor forward(Tensor x, long[] outputSize) {
        long h = outputSize == null ? 2 * x.size(2) : outputSize[0];
        long w = outputSize == null ? 2 * x.size(3) : outputSize[1];
        return Scopes.keep(() -> conv.forward(Functional.upsampleNearest(x, h, w))); // drops the 4x copy at once
    }
}
