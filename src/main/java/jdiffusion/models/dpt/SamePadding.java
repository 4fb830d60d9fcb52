package jdiffusion.models.dpt;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' BiT {@code DynamicPad2d}: TensorFlow's "SAME" padding for a strided window, from the
 * input size: {@code max((ceil(x / s) - 1) * s + k - x, 0)} split with the smaller half first.
 */
final class SamePadding {
    private SamePadding() {}

    static long amount(long size, int kernel, int stride) {
        return Math.max((ceilDiv(size, stride) - 1) * stride + kernel - size, 0);
    }

    /** x [B, C, H, W] padded with {@code value} so a {@code kernel}/{@code stride} window covers it "SAME". */
    static Tensor pad(Tensor x, int kernel, int stride, double value) {
        long ph = amount(x.size(2), kernel, stride);
        long pw = amount(x.size(3), kernel, stride);
        if (ph == 0 && pw == 0) return x;
        return torch.constant_pad_nd(x, new long[] {pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}, new Scalar(value));
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
