package jdiffusion.nn;

import jdiffusion.tensor.CpuClass;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * How {@link Attention} computes softmax(q k^T / sqrt(d)) v on [B, heads, N, d], chosen per device,
 * dtype and {@link CpuClass} by measurement (docs/speed.md): libtorch 2.10's fused bf16
 * {@code scaled_dot_product_attention} is fast only where oneDNN packs it for AMX; on a CPU without
 * AMX (or under {@code ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16}) it fell to a few GFLOP/s, and its
 * backward is ~10x slower than float32's everywhere. All three compute the same function; they
 * differ in rounding (bf16 inputs, float32 accumulation in each).
 */
public enum AttentionKernel {
    /** The fused kernel in the inputs' dtype (diffusers' AttnProcessor2_0). */
    SDPA,
    /** bf16 inputs cast to float32 for the fused kernel, the result cast back. */
    SDPA_FLOAT32,
    /** Explicit bf16 matmuls with a float32 softmax (diffusers' AttnProcessor with upcast_softmax). */
    BMM_SOFTMAX;

    /**
     * The kernel for one call.
     *
     * @param dtype the dtype of q, k, v
     * @param cpu   whether they are on the CPU
     * @param grad  whether a graph is built (training)
     */
    public static AttentionKernel choose(ScalarType dtype, boolean cpu, boolean grad, CpuClass cpuClass) {
        if (!cpu || dtype.value != ScalarType.BFloat16.value) return SDPA;
        // training: bf16 SDPA backward is ~10x slower than float32's (4096 tokens x 8 heads: 6.5 s vs 0.6 s)
        if (grad) return SDPA_FLOAT32;
        return cpuClass == CpuClass.AMX_BF16 ? SDPA : SDPA_FLOAT32;
    }

    /** q [B, heads, N, d], k [B, heads, M, d], v [B, heads, M, dv] -> [B, heads, N, dv] in q's dtype. */
    public Tensor run(Tensor q, Tensor k, Tensor v) {
        return switch (this) {
            case SDPA -> torch.scaled_dot_product_attention(q, k, v);
            case SDPA_FLOAT32 -> {
                ScalarType dtype = q.scalar_type();
                // autocast off for the call: CPU autocast would cast the float32 inputs back to bf16
                boolean autocast = torch.is_autocast_enabled(DeviceType.CPU);
                torch.set_autocast_enabled(DeviceType.CPU, false);
                try {
                    yield torch.scaled_dot_product_attention(q.to(ScalarType.Float), k.to(ScalarType.Float),
                            v.to(ScalarType.Float)).to(dtype);
                } finally {
                    torch.set_autocast_enabled(DeviceType.CPU, autocast);
                }
            }
            case BMM_SOFTMAX -> Attention.naiveAttention(q, k, v, true);
        };
    }
}
