package jdiffusion.models.unet2d;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.unet.DownBlock;
import jdiffusion.nn.Attention;
import jdiffusion.nn.Downsample2D;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code AttnDownBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py),
 * downsample_type "conv": resnet then self-attention over the pixels, per layer, then an optional
 * stride-2 convolution. Each layer's output and the downsampled output are skip connections.
 */
public final class AttnDownBlock2D extends JavaModule {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Attention> attentions = new ArrayList<>();
    private final Downsample2D downsampler; // null in the last block

    public AttnDownBlock2D(UNet2DConfig config, int index, int inChannels) {
        int out = config.blockOutChannels().get(index);
        ModuleList attnList = register_module("attentions", new ModuleList());
        ModuleList resnetList = register_module("resnets", new ModuleList());
        for (int i = 0; i < config.layersPerBlock(); i++) {
            resnets.add(resnetList.add(new ResnetBlock2D(i == 0 ? inChannels : out, out, config.timeEmbedDim(),
                    config.normNumGroups(), config.normEps(), 1.0)));
            // Attention(out, heads=out // attention_head_dim, dim_head=attention_head_dim, norm_num_groups=resnet_groups,
            // residual_connection=True, bias=True): the same spatial form as the VAE's mid-block attention
            attentions.add(attnList.add(Attention.vaeMidBlock(out, config.headDim(out), config.normNumGroups(),
                    config.normEps(), 1.0)));
        }
        downsampler = index < config.numBlocks() - 1
                ? register_module("downsamplers", new ModuleList()).add(new Downsample2D(out, out, config.downsamplePadding()))
                : null;
    }

    /** hidden [B, in, H, W], temb [B, T] -> the block's output and its skip connections. */
    public DownBlock.Output forward(Tensor hidden, Tensor temb) {
        List<Tensor> residuals = new ArrayList<>();
        for (int i = 0; i < resnets.size(); i++) {
            hidden = attentions.get(i).forward(resnets.get(i).forward(hidden, temb), null);
            residuals.add(hidden);
        }
        if (downsampler != null) {
            hidden = downsampler.forward(hidden);
            residuals.add(hidden);
        }
        return new DownBlock.Output(hidden, residuals);
    }
}
