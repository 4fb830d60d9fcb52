package jdiffusion.models.vae;

import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code AutoencoderTinyBlock}: three 3x3 convolutions
 * with ReLU between them, a 1x1 skip (Identity when the width is kept), ReLU after the sum
 * ({@code fuse}). TAESD's only block.
 */
public final class AutoencoderTinyBlock extends JavaModule {
    private final Conv2dImpl conv0; // [out, in, 3, 3]
    private final Conv2dImpl conv2; // [out, out, 3, 3]
    private final Conv2dImpl conv4; // [out, out, 3, 3]
    private final Conv2dImpl skip;  // [out, in, 1, 1], no bias; null (Identity) when in == out

    public AutoencoderTinyBlock(long in, long out) {
        ModuleList conv = register_module("conv", new ModuleList());
        conv0 = conv.put(0, Layers.conv2d(in, out, 3, 1, 1));
        conv2 = conv.put(2, Layers.conv2d(out, out, 3, 1, 1)); // conv.1 and conv.3 are the activation: no weights
        conv4 = conv.put(4, Layers.conv2d(out, out, 3, 1, 1));
        skip = in == out ? null : register_module("skip", Layers.conv2d(in, out, 1, 1, 0, false));
    }

    /** x [B, in, H, W] -> [B, out, H, W]: relu(conv(x) + skip(x)). */
    public Tensor forward(Tensor x) {
        Tensor h = conv4.forward(torch.relu(conv2.forward(torch.relu(conv0.forward(x)))));
        return torch.relu(h.add(skip == null ? x : skip.forward(x)));
    }
}
