package jdiffusion.models.clip;

import jdiffusion.nn.JavaModule;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers {@code CLIPMLP}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py">modeling_clip.py</a>):
 * fc1, activation, fc2.
 */
final class CLIPMLP extends JavaModule {
    private final CLIPTextConfig.HiddenAct activation;
    final LinearImpl fc1; // weight [I, C], bias [I]
    final LinearImpl fc2; // weight [C, I], bias [C]

    CLIPMLP(CLIPEncoderShape config) {
        this.activation = config.hiddenAct();
        this.fc1 = register_module("fc1", new LinearImpl(config.hiddenSize(), config.intermediateSize()));
        this.fc2 = register_module("fc2", new LinearImpl(config.intermediateSize(), config.hiddenSize()));
    }

    /** [B, T, C] -> [B, T, C]. */
    Tensor forward(Tensor hiddenStates) {
        Tensor h = fc1.forward(hiddenStates); // [B, T, I]
        h = switch (activation) {
            // transformers' QuickGELUActivation: x * sigmoid(1.702 x), the approximation OpenAI CLIP trained with.
            case QUICK_GELU -> h.mul(torch.sigmoid(h.mul(new Scalar(1.702))));
            // transformers' GELUActivation: nn.functional.gelu, exact erf form.
            case GELU -> torch.gelu(h);
        };
        return fc2.forward(h);
    }
}
