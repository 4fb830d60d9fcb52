package jdiffusion.models.clip;

import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers {@code CLIPAttention}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py">modeling_clip.py</a>),
 * self-attention with separate q/k/v/out projections: causal in the text tower, over every patch in the
 * vision tower.
 *
 * <p>transformers 4.47 runs it either eagerly ({@code softmax(q k^T * head_dim^-0.5 + causal_mask) v}
 * with a finfo.min causal mask) or through SDPA with that mask; both equal libtorch's fused
 * {@code scaled_dot_product_attention(is_causal=true)} up to rounding, which the golden test checks.
 * No padding mask: the SD pipelines never pass one.
 */
final class CLIPAttention extends JavaModule {
    private final int numHeads;
    private final int headDim;
    private final boolean causal;
    final LinearImpl kProj; // weight [C, C], bias [C]
    final LinearImpl vProj; // weight [C, C], bias [C]
    final LinearImpl qProj; // weight [C, C], bias [C]
    final LinearImpl outProj; // weight [C, C], bias [C]

    CLIPAttention(CLIPEncoderShape config) {
        int c = config.hiddenSize();
        this.numHeads = config.numAttentionHeads();
        this.headDim = config.headDim();
        this.causal = config.causal();
        // Registered in transformers' order, so named_parameters() lists keys as the checkpoint does.
        // Layers.linear (not a plain LinearImpl) so that LoRA training can hook these as the UNet's.
        this.kProj = register_module("k_proj", Layers.linear(c, c, true));
        this.vProj = register_module("v_proj", Layers.linear(c, c, true));
        this.qProj = register_module("q_proj", Layers.linear(c, c, true));
        this.outProj = register_module("out_proj", Layers.linear(c, c, true));
    }

    /** hiddenStates [B, T, C] -> [B, T, C]; in the text tower position t attends to positions 0..t. */
    Tensor forward(Tensor hiddenStates) {
        long b = hiddenStates.size(0);
        long t = hiddenStates.size(1);
        Tensor q = heads(qProj.forward(hiddenStates), b, t);
        Tensor k = heads(kProj.forward(hiddenStates), b, t);
        Tensor v = heads(vProj.forward(hiddenStates), b, t);
        // Default scale is head_dim^-0.5, transformers' self.scale; dropout 0 at inference.
        Tensor o = torch.scaled_dot_product_attention(q, k, v, new TensorOptional(), 0.0, causal,
                new DoubleOptional(), false); // [B, H, T, D]
        o = o.transpose(1, 2).reshape(b, t, (long) numHeads * headDim); // [B, H, T, D] -> [B, T, H*D]
        return outProj.forward(o);
    }

    /** [B, T, H*D] -> [B, H, T, D]. */
    private Tensor heads(Tensor x, long b, long t) {
        return x.view(b, t, numHeads, headDim).transpose(1, 2);
    }
}
