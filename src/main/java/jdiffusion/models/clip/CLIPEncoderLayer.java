package jdiffusion.models.clip;

import jdiffusion.nn.JavaModule;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LayerNormOptions;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.Tensor;

/**
 * transformers {@code CLIPEncoderLayer}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py">modeling_clip.py</a>):
 * a pre-LayerNorm transformer block.
 */
final class CLIPEncoderLayer extends JavaModule {
    final CLIPAttention selfAttn;
    final LayerNormImpl layerNorm1; // weight [C], bias [C]
    final CLIPMLP mlp;
    final LayerNormImpl layerNorm2; // weight [C], bias [C]

    CLIPEncoderLayer(CLIPEncoderShape config) {
        this.selfAttn = register_module("self_attn", new CLIPAttention(config));
        this.layerNorm1 = register_module("layer_norm1", layerNorm(config));
        this.mlp = register_module("mlp", new CLIPMLP(config));
        this.layerNorm2 = register_module("layer_norm2", layerNorm(config));
    }

    /** [B, T, C] -> [B, T, C]. */
    Tensor forward(Tensor x) {
        x = x.add(selfAttn.forward(layerNorm1.forward(x)));
        return x.add(mlp.forward(layerNorm2.forward(x)));
    }

    /** nn.LayerNorm(hidden_size, eps=layer_norm_eps); also the final LayerNorm of the transformer. */
    static LayerNormImpl layerNorm(CLIPEncoderShape config) {
        // LongVector(long...) with an array: the single-long constructor would make a vector of that size.
        LayerNormOptions options = new LayerNormOptions(new LongVector(new long[] {config.hiddenSize()}));
        options.eps().put(config.layerNormEps());
        return new LayerNormImpl(options);
    }
}
