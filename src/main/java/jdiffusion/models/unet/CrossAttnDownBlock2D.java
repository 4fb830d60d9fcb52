package jdiffusion.models.unet;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.Downsample2D;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import jdiffusion.nn.Transformer2DModel;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code CrossAttnDownBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py):
 * (resnet, transformer) pairs, then an optional stride-2 convolution. Each pair's output and the
 * downsampled output are skip connections.
 */
public final class CrossAttnDownBlock2D extends JavaModule implements DownBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Downsample2D downsampler; // null in the last block

    /** Down block {@code index} of {@code config}, fed {@code inChannels}. */
    public CrossAttnDownBlock2D(UNet2DConditionConfig config, int index, int inChannels) {
        this(config, index, inChannels, ScalarType.Float);
    }

    /** As above, each layer converted to {@code dtype} as it is built (see UNet2DConditionModel). */
    public CrossAttnDownBlock2D(UNet2DConditionConfig config, int index, int inChannels, ScalarType dtype) {
        int out = config.blockOutChannels().get(index);
        int heads = config.attentionHeads(index);
        ModuleList resnetList = register_module("resnets", new ModuleList());
        ModuleList attentionList = register_module("attentions", new ModuleList());
        for (int i = 0; i < config.layersPerBlock().get(index); i++) {
            resnets.add(resnetList.add(ModelLoading.in(dtype, new ResnetBlock2D(i == 0 ? inChannels : out, out, config.timeEmbedDim(),
                    config.normNumGroups(), config.normEps(), 1.0))));
            attentions.add(attentionList.add(ModelLoading.in(dtype, new Transformer2DModel(heads, out / heads, out,
                    config.transformerLayersPerBlock().get(index), config.crossAttentionDim().get(index),
                    config.normNumGroups(), config.useLinearProjection(), config.onlyCrossAttention().get(index)))));
        }
        boolean last = index == config.numBlocks() - 1;
        downsampler = last ? null
                : register_module("downsamplers", new ModuleList()).add(ModelLoading.in(dtype, new Downsample2D(out, out, config.downsamplePadding())));
    }

    @Override
    public Output forward(Tensor hidden, Tensor temb, Tensor context) {
        List<Tensor> residuals = new ArrayList<>();
        for (int i = 0; i < resnets.size(); i++) {
            hidden = resnets.get(i).forward(hidden, temb);
            hidden = attentions.get(i).forward(hidden, context);
            residuals.add(hidden);
        }
        if (downsampler != null) {
            hidden = downsampler.forward(hidden);
            residuals.add(hidden);
        }
        return new Output(hidden, residuals);
    }
}
