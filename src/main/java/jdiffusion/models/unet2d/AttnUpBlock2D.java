package jdiffusion.models.unet2d;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.unet.UpChannels;
import jdiffusion.nn.Attention;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import jdiffusion.nn.Upsample2D;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code AttnUpBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py),
 * upsample_type "conv": layers_per_block + 1 times (concatenate a skip connection, resnet,
 * self-attention), then an optional nearest x2 upsampler with a 3x3 convolution.
 */
public final class AttnUpBlock2D extends JavaModule {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Attention> attentions = new ArrayList<>();
    private final Upsample2D upsampler; // null in the last block

    public AttnUpBlock2D(UNet2DConfig config, UpChannels ch) {
        ModuleList attnList = register_module("attentions", new ModuleList());
        ModuleList resnetList = register_module("resnets", new ModuleList());
        int out = ch.out();
        for (int j = 0; j < ch.numLayers(); j++) {
            resnets.add(resnetList.add(new ResnetBlock2D(ch.resnetIn(j), out, config.timeEmbedDim(),
                    config.normNumGroups(), config.normEps(), 1.0)));
            attentions.add(attnList.add(Attention.vaeMidBlock(out, config.headDim(out), config.normNumGroups(),
                    config.normEps(), 1.0)));
        }
        upsampler = ch.addUpsample() ? register_module("upsamplers", new ModuleList()).add(new Upsample2D(out, out)) : null;
    }

    public int numResnets() {
        return resnets.size();
    }

    /** hidden [B, C, H, W], skips (the most recent last), temb [B, T] -> [B, out, 2H, 2W] (or H, W in the last block). */
    public Tensor forward(Tensor hidden, List<Tensor> skips, Tensor temb) {
        for (int j = 0; j < resnets.size(); j++) {
            Tensor skip = skips.get(skips.size() - 1 - j);
            Tensor in = hidden;
            ResnetBlock2D resnet = resnets.get(j);
            Attention attention = attentions.get(j);
            hidden = Scopes.keep(() -> attention.forward(resnet.forward(Functional.cat(in, skip, 1), temb), null));
        }
        return upsampler == null ? hidden : upsampler.forward(hidden, null);
    }
}
