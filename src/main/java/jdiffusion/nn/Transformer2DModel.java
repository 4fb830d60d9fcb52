package jdiffusion.nn;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/transformers/transformer_2d.py {@code Transformer2DModel}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/transformers/transformer_2d.py)
 * for continuous input: GroupNorm (eps 1e-6), proj_in, BasicTransformerBlocks over the H*W
 * pixels as tokens, proj_out, plus the input.
 *
 * <p>proj_in/proj_out are 1x1 convolutions applied to the image (SD 1.x, weights [C, C, 1, 1])
 * or, with use_linear_projection (SD 2.x), Linear layers applied after flattening (weights [C, C]).
 * The two are the same map; only the weight shape and the point of flattening differ.
 */
public final class Transformer2DModel extends JavaModule {
    private final GroupNormImpl norm;
    private final Conv2dImpl projInConv;     // [inner, C, 1, 1]; null with linear projection
    private final LinearImpl projInLinear;   // [inner, C]; null without
    private final List<BasicTransformerBlock> blocks = new ArrayList<>();
    private final Conv2dImpl projOutConv;    // [C, inner, 1, 1]
    private final LinearImpl projOutLinear;  // [C, inner]
    private final boolean useLinearProjection;

    public Transformer2DModel(long heads, long dimHead, long inChannels, int numLayers, long crossAttentionDim,
                              long normGroups, boolean useLinearProjection) {
        this(heads, dimHead, inChannels, numLayers, crossAttentionDim, normGroups, useLinearProjection, false);
    }

    /** With {@code onlyCrossAttention}, see {@link BasicTransformerBlock}. */
    public Transformer2DModel(long heads, long dimHead, long inChannels, int numLayers, long crossAttentionDim,
                              long normGroups, boolean useLinearProjection, boolean onlyCrossAttention) {
        this.useLinearProjection = useLinearProjection;
        long inner = heads * dimHead;
        norm = register_module("norm", Layers.groupNorm(normGroups, inChannels, 1e-6));
        projInConv = useLinearProjection ? null : register_module("proj_in", Layers.conv2d(inChannels, inner, 1, 1, 0));
        projInLinear = useLinearProjection ? register_module("proj_in", Layers.linear(inChannels, inner, true)) : null;
        ModuleList list = register_module("transformer_blocks", new ModuleList());
        for (int i = 0; i < numLayers; i++) {
            blocks.add(list.add(new BasicTransformerBlock(inner, heads, dimHead, crossAttentionDim, onlyCrossAttention)));
        }
        projOutConv = useLinearProjection ? null : register_module("proj_out", Layers.conv2d(inner, inChannels, 1, 1, 0));
        projOutLinear = useLinearProjection ? register_module("proj_out", Layers.linear(inner, inChannels, true)) : null;
    }

    /** x [B, C, H, W], context [B, M, crossDim] -> [B, C, H, W]. */
    public Tensor forward(Tensor x, Tensor context) {
        return Scopes.keep(() -> compute(x, context));
    }

    private Tensor compute(Tensor x, Tensor context) {
        long b = x.size(0), h = x.size(2), w = x.size(3);
        // 1. norm and project in; tokens: [B, inner, H, W] -> [B, H, W, inner] -> [B, H*W, inner]
        Tensor hidden = norm.forward(x);
        if (useLinearProjection) {
            hidden = projInLinear.forward(hidden.permute(0, 2, 3, 1).reshape(b, h * w, -1));
        } else {
            hidden = projInConv.forward(hidden);
            hidden = hidden.permute(0, 2, 3, 1).reshape(b, h * w, -1);
        }
        // 2. transformer blocks
        for (BasicTransformerBlock block : blocks) hidden = block.forward(hidden, context);
        // 3. project out; image again: [B, H*W, inner] -> [B, H, W, inner] -> [B, inner, H, W]
        //    in the input's layout (for channels-last the permuted tokens already are: no copy)
        var layout = x.suggest_memory_format();
        if (useLinearProjection) {
            hidden = projOutLinear.forward(hidden);
            hidden = hidden.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous(layout);
        } else {
            hidden = hidden.reshape(b, h, w, -1).permute(0, 3, 1, 2).contiguous(layout);
            hidden = projOutConv.forward(hidden);
        }
        return hidden.add(x);
    }
}
