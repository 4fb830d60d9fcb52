package jdiffusion.models.dpt;

import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' {@code DPTFeatureFusionLayer}: adds the (residual-unit'ed) skip features, one more
 * residual unit, x2 bilinear upsampling with align_corners=True, then a 1x1 projection.
 */
final class DPTFeatureFusionLayer extends JavaModule {
    private final Conv2dImpl projection; // [F, F, 1, 1]
    private final DPTPreActResidualLayer residualLayer1;
    private final DPTPreActResidualLayer residualLayer2;

    DPTFeatureFusionLayer(DPTConfig config) {
        int f = config.fusionHiddenSize();
        projection = register_module("projection", Layers.conv2d(f, f, 1, 1, 0));
        residualLayer1 = register_module("residual_layer1", new DPTPreActResidualLayer(config));
        residualLayer2 = register_module("residual_layer2", new DPTPreActResidualLayer(config));
    }

    /** hidden [B, F, h, w], residual [B, F, h', w'] or null -> [B, F, 2h, 2w]. */
    Tensor forward(Tensor hidden, Tensor residual) {
        if (residual != null) {
            if (residual.size(2) != hidden.size(2) || residual.size(3) != hidden.size(3)) {
                residual = torch.upsample_bilinear2d(residual, new long[] {hidden.size(2), hidden.size(3)}, false);
            }
            hidden = hidden.add(residualLayer1.forward(residual));
        }
        hidden = residualLayer2.forward(hidden);
        hidden = torch.upsample_bilinear2d(hidden, new long[] {hidden.size(2) * 2, hidden.size(3) * 2}, true);
        return projection.forward(hidden);
    }
}
