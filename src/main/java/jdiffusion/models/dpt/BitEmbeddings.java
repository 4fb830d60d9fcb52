package jdiffusion.models.dpt;

import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' BiT {@code BitEmbeddings}, the stem: a weight-standardised 7x7 stride-2 convolution,
 * GroupNorm + ReLU (the non-pre-activation form) and a 3x3 stride-2 max pool ("SAME" padded with
 * zeros when {@code embedding_dynamic_padding}). 4x smaller than the input.
 */
final class BitEmbeddings extends JavaModule {
    private final WeightStandardizedConv2d convolution; // [E, 3, 7, 7]
    private final GroupNormImpl norm;                   // [E]
    private final BitConfig config;

    BitEmbeddings(BitConfig config) {
        this.config = config;
        convolution = register_module("convolution",
                new WeightStandardizedConv2d(config.numChannels(), config.embeddingSize(), 7, 2, config.samePadding(), 1e-8));
        norm = register_module("norm", Layers.groupNorm(config.numGroups(), config.embeddingSize(), 1e-5));
    }

    /** pixel_values [B, 3, H, W] -> [B, E, H/4, W/4]. */
    Tensor forward(Tensor pixels) {
        Tensor x = convolution.forward(pixels);
        if (!config.samePadding()) x = torch.constant_pad_nd(x, 1, 1, 1, 1); // nn.ConstantPad2d(1) before the norm
        x = torch.relu(norm.forward(x));
        if (config.embeddingDynamicPadding()) x = SamePadding.pad(x, 3, 2, 0.0);
        return torch.max_pool2d(x, new long[] {3, 3}, new long[] {2, 2}, new long[] {0, 0}, new long[] {1, 1}, false);
    }
}
