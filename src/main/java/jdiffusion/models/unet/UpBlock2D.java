package jdiffusion.models.unet;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import jdiffusion.nn.Upsample2D;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code UpBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py):
 * layers_per_block + 1 resnets, each fed the hidden state concatenated with one skip connection,
 * then an optional ×2 upsampler. FreeU is not supported.
 */
public final class UpBlock2D extends JavaModule implements UpBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Upsample2D upsampler; // null in the last block

    /** Up block {@code index} (0 = deepest) of {@code config}. */
    public UpBlock2D(UNet2DConditionConfig config, int index, ScalarType dtype) {
        this(UpChannels.of(config, index), config.timeEmbedDim(), config.normNumGroups(), config.normEps(), dtype);
    }

    /** An up block with the channels {@code ch}, as {@code get_up_block} builds it for any UNet. */
    public UpBlock2D(UpChannels ch, int tembChannels, int groups, double eps) {
        this(ch, tembChannels, groups, eps, ScalarType.Float);
    }

    /** As above, each layer converted to {@code dtype} as it is built (see UNet2DConditionModel). */
    public UpBlock2D(UpChannels ch, int tembChannels, int groups, double eps, ScalarType dtype) {
        ModuleList list = register_module("resnets", new ModuleList());
        for (int j = 0; j < ch.numLayers(); j++) {
            resnets.add(list.add(ModelLoading.in(dtype, new ResnetBlock2D(ch.resnetIn(j), ch.out(), tembChannels, groups, eps, 1.0))));
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
        }
        return hidden;
    }

    @Override
    public Tensor upsample(Tensor hidden, long[] upsampleSize) {
        return upsampler == null ? hidden : upsampler.forward(hidden, upsampleSize);
    }
}
