package jdiffusion.models.dpt;

import jdiffusion.nn.JavaModule;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/** transformers' {@code DPTPreActResidualLayer} (MiDaS' ResidualConvUnit): x + conv2(relu(conv1(relu(x)))). */
final class DPTPreActResidualLayer extends JavaModule {
    private final Conv2dImpl convolution1; // [F, F, 3, 3]
    private final Conv2dImpl convolution2;

    DPTPreActResidualLayer(DPTConfig config) {
        int f = config.fusionHiddenSize();
        convolution1 = register_module("convolution1", DPTNeck.conv(f, f, 3, 1, 1, config.fusionResidualBias()));
        convolution2 = register_module("convolution2", DPTNeck.conv(f, f, 3, 1, 1, config.fusionResidualBias()));
    }

    Tensor forward(Tensor x) {
        Tensor h = convolution1.forward(torch.relu(x));
        return convolution2.forward(torch.relu(h)).add(x);
    }
}
