package jdiffusion.models.vae;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.nn.Downsample2D;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code DownEncoderBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py):
 * resnets without time embedding (eps 1e-6), then, except in the last block, the VAE's
 * stride-2 convolution with padding 0 after an explicit (0, 1, 0, 1) pad.
 */
public final class DownEncoderBlock2D extends JavaModule {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler; // null in the last block

    public DownEncoderBlock2D(long inChannels, long outChannels, int numLayers, long groups, boolean addDownsample) {
        ModuleList list = register_module("resnets", new ModuleList());
        for (int i = 0; i < numLayers; i++) {
            resnets.add(list.add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, 0, groups, 1e-6, 1.0)));
        }
        downsampler = addDownsample
                ? register_module("downsamplers", new ModuleList()).add(new Downsample2D(outChannels, outChannels, 0)) : null;
    }

    /** x [B, in, H, W] -> [B, out, H/2, W/2] (or H, W in the last block). */
    public Tensor forward(Tensor x) {
        for (ResnetBlock2D resnet : resnets) x = resnet.forward(x, null);
        return downsampler == null ? x : downsampler.forward(x);
    }
}
