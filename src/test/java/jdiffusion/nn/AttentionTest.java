package jdiffusion.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * libtorch's fused scaled_dot_product_attention (what {@link Attention} runs) against the explicit
 * softmax form diffusers' AttnProcessor computes (what the goldens ran), at SD's shapes.
 */
class AttentionTest {
    @ParameterizedTest(name = "B={0} heads={1} N={2} M={3} d={4}")
    @CsvSource({
            "2, 8, 4096, 4096, 40",  // SD 1.5 self-attention at 64x64 latents
            "2, 8, 4096, 77, 40",    // SD 1.5 cross-attention on the text
            "2, 5, 1024, 77, 64",    // SD 2.x cross-attention, 32x32
            "1, 1, 1024, 1024, 512", // VAE mid block: one head as wide as the block
    })
    void sdpaEqualsExplicitSoftmaxInFloat32(int b, int heads, int n, int m, int d) {
        TorchGenerator g = new TorchGenerator(n + m + d);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor q = g.randn(b, heads, n, d), k = g.randn(b, heads, m, d), v = g.randn(b, heads, m, d);
            Tensor fused = torch.scaled_dot_product_attention(q, k, v);
            Tensor naive = Attention.naiveAttention(q, k, v, false);
            double ratio = Tensors.maxAbsDiff(fused, naive) / Tensors.maxAbs(naive);
            System.out.printf("sdpa vs naive B=%d heads=%d N=%d M=%d d=%d: ratio %.2e%n", b, heads, n, m, d, ratio);
            assertTrue(ratio <= 1e-5, "ratio " + ratio);

            // bf16: the fused kernel accumulates in float32, as the naive form does with upcast
            Tensor fusedBf16 = torch.scaled_dot_product_attention(bf16(q), bf16(k), bf16(v));
            Tensor naiveBf16 = Attention.naiveAttention(bf16(q), bf16(k), bf16(v), true);
            double ratioBf16 = Tensors.maxAbsDiff(fusedBf16, naiveBf16) / Tensors.maxAbs(naiveBf16);
            System.out.printf("  bf16 sdpa vs upcast naive: ratio %.2e%n", ratioBf16);
            assertTrue(ratioBf16 <= 2e-2, "bf16 ratio " + ratioBf16);
        }
    }

    private static Tensor bf16(Tensor t) {
        return t.to(ScalarType.BFloat16);
    }
}
