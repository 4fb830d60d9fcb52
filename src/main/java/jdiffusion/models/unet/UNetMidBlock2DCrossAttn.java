package jdiffusion.models.unet;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import jdiffusion.nn.Transformer2DModel;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code UNetMidBlock2DCrossAttn}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py)
 * with num_layers 1: resnet, transformer, resnet, at the width of the last down block. Its resnets
 * divide by mid_block_scale_factor; heads, cross-attention width and transformer depth are the
 * last down block's.
 */
public final class UNetMidBlock2DCrossAttn extends JavaModule {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();

    public UNetMidBlock2DCrossAttn(UNet2DConditionConfig config) {
        this(config, ScalarType.Float);
    }

    /** As above, each layer converted to {@code dtype} as it is built (see UNet2DConditionModel). */
    public UNetMidBlock2DCrossAttn(UNet2DConditionConfig config, ScalarType dtype) {
        int last = config.numBlocks() - 1;
        int channels = config.blockOutChannels().get(last);
        int heads = config.attentionHeads(last);
        ModuleList attentionList = register_module("attentions", new ModuleList());
        ModuleList resnetList = register_module("resnets", new ModuleList());
        resnets.add(resnetList.add(ModelLoading.in(dtype, resnet(config, channels))));
        attentions.add(attentionList.add(ModelLoading.in(dtype, new Transformer2DModel(heads, channels / heads, channels,
                config.transformerLayersPerBlock().get(last), config.crossAttentionDim().get(last),
                config.normNumGroups(), config.useLinearProjection()))));
        resnets.add(resnetList.add(ModelLoading.in(dtype, resnet(config, channels))));
    }

    private static ResnetBlock2D resnet(UNet2DConditionConfig config, int channels) {
        return new ResnetBlock2D(channels, channels, config.timeEmbedDim(), config.normNumGroups(),
                config.normEps(), config.midBlockScaleFactor());
    }

    /** hidden [B, C, h, w] -> [B, C, h, w]. */
    public Tensor forward(Tensor hidden, Tensor temb, Tensor context) {
        hidden = resnets.getFirst().forward(hidden, temb);
        for (int i = 0; i < attentions.size(); i++) {
            hidden = attentions.get(i).forward(hidden, context);
            hidden = resnets.get(i + 1).forward(hidden, temb);
        }
        return hidden;
    }
}
