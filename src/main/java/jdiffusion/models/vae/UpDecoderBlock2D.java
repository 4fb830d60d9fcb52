package jdiffusion.models.vae;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import jdiffusion.nn.Upsample2D;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code UpDecoderBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py):
 * resnets without time embedding or skip connections (eps 1e-6), then, except in the last block,
 * nearest ×2 and a 3x3 convolution.
 */
public final class UpDecoderBlock2D extends JavaModule {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Upsample2D upsampler; // null in the last block

    public UpDecoderBlock2D(long inChannels, long outChannels, int numLayers, long groups, boolean addUpsample) {
        ModuleList list = register_module("resnets", new ModuleList());
        for (int i = 0; i < numLayers; i++) {
            resnets.add(list.add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, 0, groups, 1e-6, 1.0)));
        }
        upsampler = addUpsample
                ? register_module("upsamplers", new ModuleList()).add(new Upsample2D(outChannels, outChannels)) : null;
    }

    /** x [B, in, H, W] -> [B, out, 2H, 2W] (or H, W in the last block). */
    public Tensor forward(Tensor x) {
        return Scopes.sequence(x, stages()); // one resnet's output alive at a time
    }

    /** The block as a chain of layers, for a caller that runs several blocks as one chain. */
    List<UnaryOperator<Tensor>> stages() {
        List<UnaryOperator<Tensor>> steps = new ArrayList<>();
        for (ResnetBlock2D resnet : resnets) steps.add(h -> resnet.forward(h, null));
        if (upsampler != null) steps.add(h -> upsampler.forward(h, null));
        return steps;
    }
}
