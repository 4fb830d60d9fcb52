package jdiffusion.models.dpt;

import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' {@code BitBottleneckLayer} (ResNet v1.5 bottleneck, "used for ViT Hybrid"): 1x1 down to
 * a quarter of the width, 3x3 (carrying the stride), 1x1 up, each weight-standardised and
 * GroupNorm'd (ReLU after the first two), the shortcut added, then ReLU. The first layer of a stage
 * has a projected shortcut ({@code downsample}: 1x1 conv + GroupNorm).
 */
final class BitBottleneckLayer extends JavaModule {
    private final WeightStandardizedConv2d downsampleConv; // [out, in, 1, 1]; null past the first layer
    private final GroupNormImpl downsampleNorm;
    private final WeightStandardizedConv2d conv1;          // [mid, in, 1, 1]
    private final GroupNormImpl norm1;
    private final WeightStandardizedConv2d conv2;          // [mid, mid, 3, 3], stride
    private final GroupNormImpl norm2;
    private final WeightStandardizedConv2d conv3;          // [out, mid, 1, 1]
    private final GroupNormImpl norm3;

    BitBottleneckLayer(BitConfig config, int in, int out, int stride, boolean first) {
        int mid = BitConfig.bottleneckChannels(out);
        boolean same = config.samePadding();
        int groups = config.numGroups();
        if (first) {
            JavaModule downsample = register_module("downsample", new JavaModule() {});
            downsampleConv = downsample.register_module("conv", new WeightStandardizedConv2d(in, out, 1, stride, same, 1e-8));
            downsampleNorm = downsample.register_module("norm", Layers.groupNorm(groups, out, 1e-5));
        } else {
            downsampleConv = null;
            downsampleNorm = null;
        }
        conv1 = register_module("conv1", new WeightStandardizedConv2d(in, mid, 1, 1, same, 1e-8));
        norm1 = register_module("norm1", Layers.groupNorm(groups, mid, 1e-5));
        conv2 = register_module("conv2", new WeightStandardizedConv2d(mid, mid, 3, stride, same, 1e-8));
        norm2 = register_module("norm2", Layers.groupNorm(groups, mid, 1e-5));
        conv3 = register_module("conv3", new WeightStandardizedConv2d(mid, out, 1, 1, same, 1e-8));
        norm3 = register_module("norm3", Layers.groupNorm(groups, out, 1e-5));
    }

    /** x [B, in, H, W] -> [B, out, H/stride, W/stride]. */
    Tensor forward(Tensor x) {
        Tensor shortcut = downsampleConv == null ? x : downsampleNorm.forward(downsampleConv.forward(x));
        Tensor h = torch.relu(norm1.forward(conv1.forward(x)));
        h = torch.relu(norm2.forward(conv2.forward(h)));
        h = norm3.forward(conv3.forward(h));
        return torch.relu(h.add(shortcut));
    }
}
