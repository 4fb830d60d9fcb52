package jdiffusion.models.unet;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.Downsample2D;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code DownBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py):
 * resnets, then an optional stride-2 convolution. Every resnet output and the downsampled output
 * are skip connections.
 */
public final class DownBlock2D extends JavaModule implements DownBlock {
    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler; // null in the last block

    /** Down block {@code index} of {@code config}, fed {@code inChannels}. */
    public DownBlock2D(UNet2DConditionConfig config, int index, int inChannels, ScalarType dtype) {
        this(inChannels, config.blockOutChannels().get(index), config.layersPerBlock().get(index), config.timeEmbedDim(),
                config.normNumGroups(), config.normEps(), index < config.numBlocks() - 1, config.downsamplePadding(), dtype);
    }

    /**
     * {@code DownBlock2D(num_layers, in_channels, out_channels, temb_channels, resnet_groups, resnet_eps,
     * add_downsample, downsample_padding)}, as {@code get_down_block} builds it for any UNet.
     */
    public DownBlock2D(int inChannels, int out, int numLayers, int tembChannels, int groups, double eps,
                       boolean addDownsample, int downsamplePadding) {
        this(inChannels, out, numLayers, tembChannels, groups, eps, addDownsample, downsamplePadding, ScalarType.Float);
    }

    /** As above, each layer converted to {@code dtype} as it is built (see UNet2DConditionModel). */
    public DownBlock2D(int inChannels, int out, int numLayers, int tembChannels, int groups, double eps,
                       boolean addDownsample, int downsamplePadding, ScalarType dtype) {
        ModuleList list = register_module("resnets", new ModuleList());
        for (int i = 0; i < numLayers; i++) {
            resnets.add(list.add(ModelLoading.in(dtype, new ResnetBlock2D(i == 0 ? inChannels : out, out, tembChannels, groups, eps, 1.0))));
        }
        downsampler = addDownsample
                ? register_module("downsamplers", new ModuleList()).add(ModelLoading.in(dtype, new Downsample2D(out, out, downsamplePadding))) : null;
    }

    @Override
    public Output forward(Tensor hidden, Tensor temb, Tensor context) {
        List<Tensor> residuals = new ArrayList<>();
        for (ResnetBlock2D resnet : resnets) {
            hidden = resnet.forward(hidden, temb);
            residuals.add(hidden);
        }
        if (downsampler != null) {
            hidden = downsampler.forward(hidden);
            residuals.add(hidden);
        }
        return new Output(hidden, residuals);
    }
}
