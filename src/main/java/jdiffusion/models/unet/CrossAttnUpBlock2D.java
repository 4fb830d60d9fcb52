package jdiffusion.models.unet;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import jdiffusion.nn.Transformer2DModel;
import jdiffusion.nn.Upsample2D;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code CrossAttnUpBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py):
 * layers_per_block + 1 (resnet, transformer) pairs, each resnet fed the hidden state concatenated
 * with one skip connection, then an optional ×2 upsampler. FreeU is not supported.
 */
public final class CrossAttnUpBlock2D extends JavaModule implements UpBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Upsample2D upsampler; // null in the last block

    /** Up block {@code index} (0 = deepest) of {@code config}. */
    public CrossAttnUpBlock2D(UNet2DConditionConfig config, int index) {
        this(config, index, ScalarType.Float);
    }

    /** As above, each layer converted to {@code dtype} as it is built (see UNet2DConditionModel). */
    public CrossAttnUpBlock2D(UNet2DConditionConfig config, int index, ScalarType dtype) {
        UpChannels ch = UpChannels.of(config, index);
        int down = ch.downIndex(); // heads, widths and depth mirror this down block
        int heads = config.attentionHeads(down);
        ModuleList resnetList = register_module("resnets", new ModuleList());
        ModuleList attentionList = register_module("attentions", new ModuleList());
        for (int j = 0; j < ch.numLayers(); j++) {
            resnets.add(resnetList.add(ModelLoading.in(dtype, new ResnetBlock2D(ch.resnetIn(j), ch.out(), config.timeEmbedDim(),
                    config.normNumGroups(), config.normEps(), 1.0))));
            attentions.add(attentionList.add(ModelLoading.in(dtype, new Transformer2DModel(heads, ch.out() / heads, ch.out(),
                    config.transformerLayersPerBlock().get(down), config.crossAttentionDim().get(down),
                    config.normNumGroups(), config.useLinearProjection(), config.onlyCrossAttention().get(down)))));
        }
        upsampler = ch.addUpsample()
                ? register_module("upsamplers", new ModuleList()).add(ModelLoading.in(dtype, new Upsample2D(ch.out(), ch.out()))) : null;
    }

    @Override
    public int numResnets() {
        return resnets.size();
    }

    @Override
    public Tensor forwardLayers(Tensor hidden, List<Tensor> residuals, Tensor temb, Tensor context, int from, int to) {
        for (int j = from; j < to; j++) {
            Tensor skip = residuals.get(residuals.size() - 1 - (j - from)); // the most recent skip first
            Tensor in = hidden;
            ResnetBlock2D resnet = resnets.get(j);
            hidden = Scopes.keep(() -> resnet.forward(Functional.cat(in, skip, 1), temb)); // concat on channels
            hidden = attentions.get(j).forward(hidden, context);
        }
        return hidden;
    }

    @Override
    public Tensor upsample(Tensor hidden, long[] upsampleSize) {
        return upsampler == null ? hidden : upsampler.forward(hidden, upsampleSize);
    }
}
