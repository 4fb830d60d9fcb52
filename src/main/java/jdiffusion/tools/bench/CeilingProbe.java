package jdiffusion.tools.bench;

import java.util.LinkedHashMap;
import java.util.Map;
import jdiffusion.nn.AttentionKernel;
import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.NativeThreads;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The machine's reachable peak through libtorch, measured in the same run as the model: a large
 * matmul (2048^3) and a 3x3 convolution (SD's most common op, at the UNet's first-block shape for
 * 512x512 with CFG: [2, 320, 64, 64]) in fp32 and bf16, best of a few runs; bf16 convolutions both
 * in contiguous and channels-last layout, the faster counting. Each probe's FLOP count per call is
 * reported beside its rate, so the ceiling can be checked by hand. The UNet's GFLOP/s divided by
 * these says how much of the machine it gets.
 *
 * <p>Attention is probed too, at SD 1.5's self-attention shape at 256x256 with CFG ([2, 8, 1024, 40]),
 * with each {@link AttentionKernel} in bf16 and the fused kernel in fp32: the measurement behind
 * the kernel {@link AttentionKernel#choose} picks for this {@link CpuClass}.
 *
 * @param matmulGflop       FLOPs of one probe matmul (2 n^3), in GFLOP
 * @param convGflop         FLOPs of one probe convolution (2 B C^2 9 H W), in GFLOP
 * @param convChannelsLast  whether the bf16 convolution was faster with channels-last activations
 * @param attentionGflop    FLOPs of one probe attention (4 B heads N^2 d), in GFLOP
 * @param attention         GFLOP/s per kernel ("fp32 SDPA", "bf16 SDPA", "bf16 SDPA_FLOAT32", "bf16 BMM_SOFTMAX")
 * @param attentionKernelBf16 the kernel bf16 inference uses on this CPU class
 */
public record CeilingProbe(double matmulFp32, double matmulBf16, double convFp32, double convBf16,
                           boolean convChannelsLast, double matmulGflop, double convGflop, double attentionGflop,
                           Map<String, Double> attention, String attentionKernelBf16) {
    private static final int REPEATS = 3;

    /** GFLOP/s; bf16 figures are NaN when the CPU has no native bf16. {@code tiny}: small shapes, milliseconds. */
    static CeilingProbe measure(boolean bf16, boolean tiny) {
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            // a lone matmul may use OpenBLAS's threads: the machine's fp32 peak, even though the
            // models run OpenBLAS single-threaded inside libtorch's threads (see NativeThreads)
            long n = tiny ? 512 : 2048;
            NativeThreads.setBlasThreads(NativeThreads.computeThreads());
            double mm32;
            try {
                mm32 = matmul(n, ScalarType.Float);
            } finally {
                NativeThreads.singleThreadedBlas();
            }
            long b = tiny ? 1 : 2, c = tiny ? 64 : 320, hw = tiny ? 32 : 64;
            double mmFlops = 2.0 * n * n * n;
            double convFlops = 2.0 * b * c * c * 9 * hw * hw;
            long heads = tiny ? 2 : 8, tokens = tiny ? 256 : 1024, d = 40;
            double attentionFlops = 4.0 * 2 * heads * tokens * tokens * d;
            String chosen = AttentionKernel.choose(ScalarType.BFloat16, true, false, CpuClass.current()).name();
            Map<String, Double> attention = new LinkedHashMap<>();
            attention.put("fp32 SDPA", attention(AttentionKernel.SDPA, ScalarType.Float, heads, tokens, d));
            double conv32 = conv(b, c, hw, ScalarType.Float, false);
            if (!bf16) {
                return new CeilingProbe(mm32, Double.NaN, conv32, Double.NaN, false, mmFlops / 1e9, convFlops / 1e9,
                        attentionFlops / 1e9, attention, chosen);
            }
            for (AttentionKernel k : AttentionKernel.values()) {
                attention.put("bf16 " + k.name(), attention(k, ScalarType.BFloat16, heads, tokens, d));
            }
            double mm16 = matmul(n, ScalarType.BFloat16);
            double convPlain = conv(b, c, hw, ScalarType.BFloat16, false);
            double convLast = conv(b, c, hw, ScalarType.BFloat16, true);
            return new CeilingProbe(mm32, mm16, conv32, Math.max(convPlain, convLast), convLast > convPlain,
                    mmFlops / 1e9, convFlops / 1e9, attentionFlops / 1e9, attention, chosen);
        }
    }

    private static double matmul(long n, ScalarType dtype) {
        Tensor a = torch.randn(n, n).to(dtype);
        Tensor bm = torch.randn(n, n).to(dtype);
        return best(2.0 * n * n * n, () -> a.mm(bm));
    }

    private static double conv(long b, long c, long hw, ScalarType dtype, boolean channelsLast) {
        Tensor x = torch.randn(b, c, hw, hw).to(dtype);
        Tensor w = torch.randn(c, c, 3, 3).mul(new org.bytedeco.pytorch.Scalar(0.02)).to(dtype);
        if (channelsLast) {
            x = x.contiguous(torch.MemoryFormat.ChannelsLast);
            w = w.contiguous(torch.MemoryFormat.ChannelsLast);
        }
        Tensor xf = x, wf = w;
        double flops = 2.0 * b * c * c * 9 * hw * hw;
        return best(flops, () -> torch.conv2d(xf, wf, new TensorOptional(), new long[] {1, 1}, new long[] {1, 1},
                new long[] {1, 1}, 1));
    }

    /** Self-attention of batch 2 (CFG): two matmuls of 2 B heads N^2 d FLOPs each. */
    private static double attention(AttentionKernel kernel, ScalarType dtype, long heads, long tokens, long d) {
        Tensor q = torch.randn(2, heads, tokens, d).to(dtype);
        Tensor k = torch.randn(2, heads, tokens, d).to(dtype);
        Tensor v = torch.randn(2, heads, tokens, d).to(dtype);
        return best(4.0 * 2 * heads * tokens * tokens * d, () -> kernel.run(q, k, v));
    }

    /** GFLOP/s of the fastest of a warm-up plus {@link #REPEATS} runs. */
    private static double best(double flops, java.util.function.Supplier<Tensor> op) {
        long fastest = Long.MAX_VALUE;
        for (int i = 0; i <= REPEATS; i++) {
            try (PointerScope scope = new PointerScope()) {
                long start = System.nanoTime();
                op.get();
                long t = System.nanoTime() - start;
                if (i > 0) fastest = Math.min(fastest, t);
            }
        }
        return flops / fastest;
    }
}
