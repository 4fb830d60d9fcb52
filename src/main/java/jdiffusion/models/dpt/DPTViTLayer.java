package jdiffusion.models.dpt;

import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' {@code DPTViTLayer} (ViT's block, timm's {@code Block}): pre-LayerNorm self-attention
 * ({@code attention.attention.query/key/value}, {@code attention.output.dense}) and a GELU MLP
 * ({@code intermediate.dense}, {@code output.dense}), each added back.
 */
final class DPTViTLayer extends JavaModule {
    private final LayerNormImpl layernormBefore;
    private final LinearImpl query;       // [hidden, hidden]
    private final LinearImpl key;
    private final LinearImpl value;
    private final LinearImpl attentionOut;
    private final LayerNormImpl layernormAfter;
    private final LinearImpl intermediate; // [intermediate, hidden]
    private final LinearImpl output;       // [hidden, intermediate]
    private final long heads;

    DPTViTLayer(DPTConfig c) {
        long h = c.hiddenSize();
        heads = c.numAttentionHeads();
        JavaModule attention = register_module("attention", new JavaModule() {});
        JavaModule self = attention.register_module("attention", new JavaModule() {});
        query = self.register_module("query", Layers.linear(h, h, c.qkvBias()));
        key = self.register_module("key", Layers.linear(h, h, c.qkvBias()));
        value = self.register_module("value", Layers.linear(h, h, c.qkvBias()));
        attentionOut = attention.register_module("output", new JavaModule() {}).register_module("dense", Layers.linear(h, h, true));
        intermediate = register_module("intermediate", new JavaModule() {})
                .register_module("dense", Layers.linear(h, c.intermediateSize(), true));
        output = register_module("output", new JavaModule() {}).register_module("dense", Layers.linear(c.intermediateSize(), h, true));
        layernormBefore = register_module("layernorm_before", Layers.layerNorm(h, c.layerNormEps()));
        layernormAfter = register_module("layernorm_after", Layers.layerNorm(h, c.layerNormEps()));
    }

    /** x [B, N, hidden] -> [B, N, hidden]. */
    Tensor forward(Tensor x) {
        Tensor normed = layernormBefore.forward(x);
        long b = x.size(0), n = x.size(1);
        // [B, N, hidden] -> [B, heads, N, d]
        Tensor q = query.forward(normed).view(b, n, heads, -1).transpose(1, 2);
        Tensor k = key.forward(normed).view(b, n, heads, -1).transpose(1, 2);
        Tensor v = value.forward(normed).view(b, n, heads, -1).transpose(1, 2);
        Tensor attended = torch.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, -1);
        Tensor h = attentionOut.forward(attended).add(x);
        Tensor mlp = output.forward(Functional.gelu(intermediate.forward(layernormAfter.forward(h))));
        return mlp.add(h);
    }
}
