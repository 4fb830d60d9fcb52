package jdiffusion.models.dpt;

import jdiffusion.nn.JavaModule;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers models/bit/modeling_bit.py {@code WeightStandardizedConv2d}: a bias-free convolution
 * whose weight is standardised per output channel before use ({@code batch_norm} over the weight in
 * training mode: biased variance, {@code eps}), with TensorFlow's "SAME" padding when asked: static
 * {@code (k - 1) / 2} for stride 1, else computed from the input size ({@link SamePadding}).
 */
final class WeightStandardizedConv2d extends JavaModule {
    private final Tensor weight; // [out, in, k, k]
    private final int kernel;
    private final int stride;
    private final boolean same;
    private final double eps;

    WeightStandardizedConv2d(int in, int out, int kernel, int stride, boolean same, double eps) {
        // our own handle on the registered tensor (register_parameter returns a reference into the module's list)
        this.weight = new Tensor(register_parameter("weight", torch.empty(out, in, kernel, kernel), true));
        this.kernel = kernel;
        this.stride = stride;
        this.same = same;
        this.eps = eps;
    }

    /** x [B, in, H, W] -> [B, out, H', W']. */
    Tensor forward(Tensor x) {
        long out = weight.size(0);
        Tensor flat = weight.reshape(out, -1);                                       // [out, in*k*k]
        Tensor mean = flat.mean(new long[] {1}, true, null);
        Tensor centred = flat.sub(mean);
        Tensor variance = centred.mul(centred).mean(new long[] {1}, true, null);     // biased, as batch_norm
        Tensor standardized = centred.mul(variance.add(new Scalar(eps)).rsqrt()).reshape_as(weight);
        long padding = 0;
        if (same && stride == 1 && (kernel - 1) % 2 == 0) {
            padding = (kernel - 1) / 2;                                               // static "SAME"
        } else if (same) {
            x = SamePadding.pad(x, kernel, stride, 0.0);                              // dynamic "SAME"
        } else {
            padding = ((stride - 1) + (kernel - 1)) / 2;                              // PyTorch-style symmetric
        }
        return torch.conv2d(x, standardized, new TensorOptional(), new long[] {stride, stride},
                new long[] {padding, padding}, new long[] {1, 1}, 1);
    }
}
