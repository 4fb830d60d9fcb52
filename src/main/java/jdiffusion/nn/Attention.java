package jdiffusion.nn;

import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/attention_processor.py {@code Attention}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/attention_processor.py)
 * with the plain processor: multi-head softmax(q k^T / sqrt(d)) v over to_q/to_k/to_v, then
 * {@code to_out.0}. Two uses in SD:
 * <ul>
 *   <li>{@link #transformer} - attn1 (self) / attn2 (cross, keys from the text) of a
 *       BasicTransformerBlock, on [B, N, C], no biases on q/k/v;</li>
 *   <li>{@link #vaeMidBlock} - the VAE mid-block attention on [B, C, H, W]: GroupNorm first,
 *       biases, one head of width C, residual added and divided by rescale_output_factor.</li>
 * </ul>
 *
 * <p>The product runs through {@code torch.scaled_dot_product_attention} (diffusers'
 * AttnProcessor2_0), in float32 where the bf16 kernel is slow ({@link AttentionKernel}). {@link #naiveAttention} is the explicit baddbmm/softmax form of AttnProcessor
 * (what the goldens ran on torch 1.13), kept for tests. {@code upcast_attention} asks for float32
 * scores; SDPA already accumulates in float32 for bf16/fp16 inputs, as diffusers' AttnProcessor2_0
 * relies on, so only the naive form reads it.
 */
public final class Attention extends JavaModule {
    private final GroupNormImpl groupNorm; // [C]; only the VAE variant
    private final LinearImpl toQ;          // [heads*dimHead, queryDim]
    private final LinearImpl toK;          // [heads*dimHead, crossDim or queryDim]
    private final LinearImpl toV;          // [heads*dimHead, crossDim or queryDim]
    private final LinearImpl toOut0;       // [queryDim, heads*dimHead]
    private final long heads;
    private final boolean residualConnection;
    private final double rescaleOutputFactor;

    private Attention(long queryDim, long crossAttentionDim, long heads, long dimHead, boolean qkvBias,
                      long normGroups, double normEps, boolean residualConnection, double rescaleOutputFactor) {
        this.heads = heads;
        this.residualConnection = residualConnection;
        this.rescaleOutputFactor = rescaleOutputFactor;
        long inner = heads * dimHead;
        long kvDim = crossAttentionDim > 0 ? crossAttentionDim : queryDim;
        groupNorm = normGroups > 0 ? register_module("group_norm", Layers.groupNorm(normGroups, queryDim, normEps)) : null;
        toQ = register_module("to_q", Layers.linear(queryDim, inner, qkvBias));
        toK = register_module("to_k", Layers.linear(kvDim, inner, qkvBias));
        toV = register_module("to_v", Layers.linear(kvDim, inner, qkvBias));
        ModuleList toOut = register_module("to_out", new ModuleList());
        toOut0 = toOut.put(0, Layers.linear(inner, queryDim, true)); // to_out.1 is Dropout: no weights
    }

    /**
     * attn1/attn2 of a BasicTransformerBlock: {@code Attention(query_dim, cross_attention_dim,
     * heads, dim_head, bias=False)}.
     *
     * @param crossAttentionDim width of the context (text embedding), or 0 for self-attention
     */
    public static Attention transformer(long queryDim, long crossAttentionDim, long heads, long dimHead) {
        return new Attention(queryDim, crossAttentionDim, heads, dimHead, false, 0, 0, false, 1.0);
    }

    /**
     * The VAE mid-block attention (UNetMidBlock2D): {@code Attention(channels, heads=channels //
     * head_dim, dim_head=head_dim, norm_num_groups=groups, eps=eps, residual_connection=True,
     * bias=True, rescale_output_factor=...)}.
     */
    public static Attention vaeMidBlock(long channels, long headDim, long groups, double eps, double rescaleOutputFactor) {
        return new Attention(channels, 0, channels / headDim, headDim, true, groups, eps, true, rescaleOutputFactor);
    }

    /**
     * hidden [B, N, C] (or [B, C, H, W] for the VAE variant), context [B, M, crossDim] or null for
     * self-attention -> same shape as hidden.
     */
    public Tensor forward(Tensor hidden, Tensor context) {
        return Scopes.keep(() -> compute(hidden, context));
    }

    private Tensor compute(Tensor hidden, Tensor context) {
        // 1. flatten images: [B, C, H, W] -> [B, H*W, C]
        Tensor residual = hidden;
        boolean image = hidden.dim() == 4;
        long b = hidden.size(0), c = hidden.size(1);
        long h = image ? hidden.size(2) : 0, w = image ? hidden.size(3) : 0;
        if (image) hidden = hidden.view(b, c, h * w).transpose(1, 2);
        // 2. GroupNorm over channels: [B, N, C] -> [B, C, N] -> norm -> [B, N, C]
        if (groupNorm != null) hidden = groupNorm.forward(hidden.transpose(1, 2)).transpose(1, 2);
        // 3. projections, split into heads: [B, N, heads*d] -> [B, heads, N, d]
        Tensor source = context == null ? hidden : context;
        Tensor q = splitHeads(toQ.forward(hidden));
        Tensor k = splitHeads(toK.forward(source));
        Tensor v = splitHeads(toV.forward(source));
        // 4. attention, heads merged back: [B, heads, N, d] -> [B, N, heads*d]
        Tensor out = product(q, k, v);
        out = out.transpose(1, 2).reshape(b, -1, heads * q.size(3));
        out = toOut0.forward(out);
        // 5. back to an image, residual and rescale as the VAE block wants
        if (image) out = out.transpose(-1, -2).reshape(b, c, h, w); // [B, H*W, C] -> [B, C, H, W]
        if (residualConnection) out = out.add(residual);
        return rescaleOutputFactor == 1.0 ? out : Functional.div(out, rescaleOutputFactor);
    }

    /**
     * Attention on [B, heads, N, d] x [B, heads, M, d] with the {@link AttentionKernel} for this
     * device, dtype and CPU: two matmuls of 2*B*heads*N*M*d FLOPs each, as an {@link OpObserver}
     * counts them.
     */
    private static Tensor product(Tensor q, Tensor k, Tensor v) {
        AttentionKernel kernel = AttentionKernel.choose(q.scalar_type(), q.device().is_cpu(), GradMode.is_enabled(),
                CpuClass.current());
        if (!OpObserver.active()) return kernel.run(q, k, v);
        long b = q.size(0), h = q.size(1), n = q.size(2), m = k.size(2);
        long flops = 2 * b * h * n * m * (q.size(3) + v.size(3));
        return OpObserver.run(OpKind.ATTENTION, flops, q, new long[] {b, h, n, v.size(3)}, () -> kernel.run(q, k, v));
    }

    /** [B, N, heads*d] -> [B, heads, N, d]. */
    private Tensor splitHeads(Tensor x) {
        return x.view(x.size(0), x.size(1), heads, -1).transpose(1, 2);
    }

    /**
     * AttnProcessor's explicit form on [B, heads, N, d]: scores = q k^T * d^-0.5 (float32 when
     * {@code upcast}), softmax over the keys, cast back, times v -> [B, heads, N, d].
     */
    static Tensor naiveAttention(Tensor q, Tensor k, Tensor v, boolean upcast) {
        ScalarType dtype = q.scalar_type();
        if (upcast) {
            q = q.to(ScalarType.Float);
            k = k.to(ScalarType.Float);
        }
        double scale = 1.0 / Math.sqrt(q.size(3));
        Tensor scores = Functional.mul(q.matmul(k.transpose(-1, -2)), scale); // [B, heads, N, M]
        Tensor probs = (upcast ? scores.to(ScalarType.Float) : scores).softmax(-1).to(dtype);
        return probs.matmul(v);
    }
}
