package jdiffusion.nn;

import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/downsampling.py {@code Downsample2D} with use_conv=True
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/downsampling.py):
 * a 3x3 convolution with stride 2. The UNet uses padding 1; the VAE encoder uses padding 0 and
 * pads right and bottom by one pixel first, (0, 1, 0, 1), so odd and even sizes both halve.
 */
public final class Downsample2D extends JavaModule {
    private final Conv2dImpl conv; // [out, channels, 3, 3]
    private final long padding;

    public Downsample2D(long channels, long outChannels, long padding) {
        this.padding = padding;
        conv = register_module("conv", Layers.conv2d(channels, outChannels, 3, 2, padding));
    }

    /** x [B, C, H, W] -> [B, out, H/2, W/2]. */
    public Tensor forward(Tensor x) {
        if (padding == 0) x = Functional.padLastTwo(x, 0, 1, 0, 1);
        return conv.forward(x);
    }
}
