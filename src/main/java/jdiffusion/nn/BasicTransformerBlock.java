package jdiffusion.nn;

import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/attention.py {@code BasicTransformerBlock}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/attention.py), the
 * SD configuration: norm_type "layer_norm" (eps 1e-5), self-attention, cross-attention on the
 * text, GEGLU feed-forward, each pre-normed and added back.
 */
public final class BasicTransformerBlock extends JavaModule {
    private final LayerNormImpl norm1;
    private final Attention attn1; // self; with only_cross_attention it attends to the context too
    private final boolean onlyCrossAttention;
    private final LayerNormImpl norm2;
    private final Attention attn2; // cross: keys and values from encoder_hidden_states
    private final LayerNormImpl norm3;
    private final FeedForward ff;

    public BasicTransformerBlock(long dim, long heads, long dimHead, long crossAttentionDim) {
        this(dim, heads, dimHead, crossAttentionDim, false);
    }

    /**
     * With {@code onlyCrossAttention} (the x4 upscaler's blocks) attn1 takes its keys and values from
     * encoder_hidden_states as attn2 does (diffusers keeps attn2 as well).
     */
    public BasicTransformerBlock(long dim, long heads, long dimHead, long crossAttentionDim, boolean onlyCrossAttention) {
        this.onlyCrossAttention = onlyCrossAttention;
        norm1 = register_module("norm1", Layers.layerNorm(dim, 1e-5));
        attn1 = register_module("attn1", Attention.transformer(dim, onlyCrossAttention ? crossAttentionDim : 0, heads, dimHead));
        norm2 = register_module("norm2", Layers.layerNorm(dim, 1e-5));
        attn2 = register_module("attn2", Attention.transformer(dim, crossAttentionDim, heads, dimHead));
        norm3 = register_module("norm3", Layers.layerNorm(dim, 1e-5));
        ff = register_module("ff", new FeedForward(dim));
    }

    /** x [B, N, dim], context [B, M, crossDim] -> [B, N, dim]. */
    public Tensor forward(Tensor x, Tensor context) {
        Tensor x0 = x; // each branch in its own scope: its temporaries go before the next starts
        Tensor x1 = Scopes.keep(() -> attn1.forward(norm1.forward(x0), onlyCrossAttention ? context : null).add(x0));
        Tensor x2 = Scopes.keep(() -> attn2.forward(norm2.forward(x1), context).add(x1));
        return Scopes.keep(() -> ff.forward(norm3.forward(x2)).add(x2));
    }
}
