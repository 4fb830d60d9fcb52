package jdiffusion.nn;

import jdiffusion.tensor.ConvolutionBackends;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Conv2dOptions;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.GroupNormOptions;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LayerNormOptions;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.LinearOptions;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.Tensor;

/**
 * Factories for the libtorch layers diffusers builds with {@code nn.Conv2d}, {@code nn.Linear},
 * {@code nn.GroupNorm} and {@code nn.LayerNorm}, keeping the bytedeco option plumbing out of the
 * blocks. Parameters are randomly initialised by libtorch; loading overwrites them.
 *
 * <p>The layers are libtorch's, subclassed only to report each call to an {@link OpObserver}
 * (FLOP counting, time per kind of op); without an observer they are libtorch's forward plus one
 * check. {@link Linear} can also carry a {@link LinearAdapter} (LoRA training adds one beside the
 * frozen weight; it finds the layers through {@link JavaModule#namedModules}).
 */
public final class Layers {
    private Layers() {}

    /**
     * A residual beside a {@link Linear}'s own computation, e.g. a trainable low-rank update. It is
     * not a registered module: named_parameters() and checkpoints stay those of the plain layer.
     */
    @FunctionalInterface
    public interface LinearAdapter {
        /**
         * input [..., in] and the layer's own output [..., out] -> the output to use instead [..., out],
         * in the dtype of {@code baseOutput}.
         */
        Tensor forward(Tensor input, Tensor baseOutput);
    }

    /** {@code nn.Conv2d(in, out, kernel_size=k, stride=s, padding=p)} with bias. */
    public static Conv2dImpl conv2d(long in, long out, long kernel, long stride, long padding) {
        return conv2d(in, out, kernel, stride, padding, true);
    }

    /** {@code nn.Conv2d(in, out, kernel_size=k, stride=s, padding=p, bias=bias)}. */
    public static Conv2dImpl conv2d(long in, long out, long kernel, long stride, long padding, boolean bias) {
        // before any model with a convolution runs: oneDNN only, and no NNPACK warnings (see there)
        ConvolutionBackends.disableNnpack();
        Conv2dOptions options = new Conv2dOptions(in, out, new LongPointer(kernel, kernel));
        options.bias().put(bias);
        options.stride().put(0, stride).put(1, stride);
        options.padding().put(new LongPointer(padding, padding));
        return new Conv2d(options, in, out, kernel, stride, padding);
    }

    /** {@code nn.Linear(in, out, bias=bias)}. */
    public static LinearImpl linear(long in, long out, boolean bias) {
        LinearOptions options = new LinearOptions(in, out);
        options.bias().put(bias);
        return new Linear(options, in, out);
    }

    /** {@code nn.GroupNorm(num_groups, num_channels, eps=eps, affine=True)}. */
    public static GroupNormImpl groupNorm(long groups, long channels, double eps) {
        GroupNormOptions options = new GroupNormOptions(groups, channels);
        options.eps().put(eps);
        options.affine().put(true);
        return new GroupNorm(options);
    }

    /** {@code nn.LayerNorm(dim, eps=eps, elementwise_affine=True)}. */
    public static LayerNormImpl layerNorm(long dim, double eps) {
        // new long[] picks the vector-of-values constructor, not LongVector(long size)
        LayerNormOptions options = new LayerNormOptions(new LongVector(new long[] {dim}));
        options.eps().put(eps);
        options.elementwise_affine().put(true);
        return new LayerNorm(options);
    }

    /** nn.Conv2d, square kernel, no dilation or groups: FLOPs 2*Cout*Cin*k*k*Hout*Wout per sample. */
    private static final class Conv2d extends Conv2dImpl {
        private final long in, out, kernel, stride, padding;

        Conv2d(Conv2dOptions options, long in, long out, long kernel, long stride, long padding) {
            super(options);
            this.in = in;
            this.out = out;
            this.kernel = kernel;
            this.stride = stride;
            this.padding = padding;
        }

        @Override
        public Tensor forward(Tensor x) { // [B, in, H, W] -> [B, out, Hout, Wout]
            if (!OpObserver.active()) return compute(x);
            long b = x.size(0);
            long h = (x.size(2) + 2 * padding - kernel) / stride + 1;
            long w = (x.size(3) + 2 * padding - kernel) / stride + 1;
            long flops = 2 * b * out * in * kernel * kernel * h * w;
            return OpObserver.run(OpKind.CONVOLUTION, flops, x, new long[] {b, out, h, w}, () -> compute(x));
        }

        private Tensor compute(Tensor x) {
            return PaddedConvolution.applies(out, x)
                    ? PaddedConvolution.forward(x, weight(), bias(), stride, padding)
                    : super.forward(x);
        }
    }

    /**
     * nn.Linear: FLOPs 2*in*out per token (every leading dimension is tokens), plus an optional
     * {@link LinearAdapter}. Without one, forward is libtorch's plus two checks.
     */
    public static final class Linear extends LinearImpl {
        private final long in, out;
        // Set and cleared between forwards (not during), by whoever trains the model: plain field.
        private LinearAdapter adapter;

        Linear(LinearOptions options, long in, long out) {
            super(options);
            this.in = in;
            this.out = out;
        }

        public long inFeatures() {
            return in;
        }

        public long outFeatures() {
            return out;
        }

        /** The adapter in use, or null. */
        public LinearAdapter adapter() {
            return adapter;
        }

        /** Sets (or, with null, removes) the adapter; without one the layer computes exactly as libtorch's. */
        public void setAdapter(LinearAdapter adapter) {
            this.adapter = adapter;
        }

        @Override
        public Tensor forward(Tensor x) { // [..., in] -> [..., out]
            Tensor y = OpObserver.active() ? observed(x) : super.forward(x);
            LinearAdapter a = adapter;
            return a == null ? y : a.forward(x, y);
        }

        private Tensor observed(Tensor x) {
            long[] shape = x.sizes().vec().get();
            shape[shape.length - 1] = out;
            long tokens = x.numel() / in;
            return OpObserver.run(OpKind.LINEAR, 2 * tokens * in * out, x, shape, () -> super.forward(x));
        }
    }

    private static final class GroupNorm extends GroupNormImpl {
        GroupNorm(GroupNormOptions options) {
            super(options);
        }

        @Override
        public Tensor forward(Tensor x) {
            if (!OpObserver.active()) return super.forward(x);
            return OpObserver.run(OpKind.NORMALISATION, 0, x, x.sizes().vec().get(), () -> super.forward(x));
        }
    }

    private static final class LayerNorm extends LayerNormImpl {
        LayerNorm(LayerNormOptions options) {
            super(options);
        }

        @Override
        public Tensor forward(Tensor x) {
            if (!OpObserver.active()) return super.forward(x);
            return OpObserver.run(OpKind.NORMALISATION, 0, x, x.sizes().vec().get(), () -> super.forward(x));
        }
    }
}
