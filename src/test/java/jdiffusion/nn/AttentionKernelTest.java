package jdiffusion.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The attention kernels compute the same function (against a float64 softmax written here), and
 * the choice per CPU class and dtype is the measured one (docs/speed.md).
 */
class AttentionKernelTest {
    @Test
    void choiceFollowsTheMeasurements() {
        for (CpuClass c : CpuClass.values()) {
            assertEquals(AttentionKernel.SDPA, AttentionKernel.choose(ScalarType.Float, true, false, c), "fp32 " + c);
            assertEquals(AttentionKernel.SDPA_FLOAT32, AttentionKernel.choose(ScalarType.BFloat16, true, true, c),
                    "bf16 training " + c);
            assertEquals(AttentionKernel.SDPA, AttentionKernel.choose(ScalarType.Half, false, false, c), "CUDA fp16 " + c);
        }
        // bf16 inference: the fused bf16 kernel only where oneDNN has AMX; elsewhere it ran at ~0.5 GFLOP/s
        assertEquals(AttentionKernel.SDPA, AttentionKernel.choose(ScalarType.BFloat16, true, false, CpuClass.AMX_BF16));
        assertEquals(AttentionKernel.SDPA_FLOAT32, AttentionKernel.choose(ScalarType.BFloat16, true, false, CpuClass.AVX512_BF16));
        assertEquals(AttentionKernel.SDPA_FLOAT32, AttentionKernel.choose(ScalarType.BFloat16, true, false, CpuClass.NO_NATIVE_BF16));
    }

    /** softmax(q k^T / sqrt(d)) v in float64. */
    private static Tensor reference(Tensor q, Tensor k, Tensor v) {
        Tensor qd = q.to(ScalarType.Double), kd = k.to(ScalarType.Double), vd = v.to(ScalarType.Double);
        return qd.matmul(kd.transpose(-1, -2)).mul(new Scalar(1.0 / Math.sqrt(q.size(3)))).softmax(-1).matmul(vd);
    }

    /**
     * In float32 every kernel is within a few ulps of the float64 result (bound 1e-5 of the range:
     * sums of d + M terms at 2^-24 each); in bf16 the inputs and the output are rounded to 8
     * significant bits, so 2^-8 relative twice plus the accumulation: bound 2^-6 of the range.
     */
    @ParameterizedTest(name = "B={0} heads={1} N={2} M={3} d={4}")
    @CsvSource({
            "2, 8, 256, 256, 40",   // SD 1.5 self-attention at 16x16 latents
            "2, 8, 256, 77, 40",    // cross-attention on the text
            "1, 1, 256, 256, 512",  // VAE mid block: one head as wide as the block
    })
    void everyKernelComputesTheSameAttention(int b, int heads, int n, int m, int d) {
        TorchGenerator g = new TorchGenerator(n + m + d);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor q = g.randn(b, heads, n, d), k = g.randn(b, heads, m, d), v = g.randn(b, heads, m, d);
            for (ScalarType dtype : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {
                Tensor qx = q.to(dtype), kx = k.to(dtype), vx = v.to(dtype);
                Tensor expected = reference(qx, kx, vx); // of the rounded inputs
                double range = Tensors.maxAbs(expected);
                double bound = (dtype == ScalarType.Float ? 1e-5 : Math.pow(2, -6)) * range;
                for (AttentionKernel kernel : AttentionKernel.values()) {
                    Tensor out = kernel.run(qx, kx, vx);
                    assertEquals(dtype.value, out.scalar_type().value, kernel + " keeps the dtype");
                    double diff = Tensors.maxAbsDiff(out.to(ScalarType.Double), expected);
                    System.out.printf("%-5s %-12s B=%d h=%d N=%d M=%d d=%d: max|diff| %.2e (range %.2f)%n",
                            dtype == ScalarType.Float ? "fp32" : "bf16", kernel, b, heads, n, m, d, diff, range);
                    assertTrue(diff <= bound, kernel + " " + dtype + ": " + diff + " > " + bound);
                }
            }
        }
    }
}
