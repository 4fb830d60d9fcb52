package jdiffusion.nn;

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

/**
 * Factories for the libtorch layers diffusers builds with {@code nn.Conv2d}, {@code nn.Linear},
 * {@code nn.GroupNorm} and {@code nn.LayerNorm}, keeping the bytedeco option plumbing out of the
 * blocks. Parameters are randomly initialised by libtorch; loading overwrites them.
 */
public final class Layers {
    private Layers() {}

    /** {@code nn.Conv2d(in, out, kernel_size=k, stride=s, padding=p)} with bias. */
    public static Conv2dImpl conv2d(long in, long out, long kernel, long stride, long padding) {
        Conv2dOptions options = new Conv2dOptions(in, out, new LongPointer(kernel, kernel));
        options.stride().put(0, stride).put(1, stride);
        options.padding().put(new LongPointer(padding, padding));
        return new Conv2dImpl(options);
    }

    /** {@code nn.Linear(in, out, bias=bias)}. */
    public static LinearImpl linear(long in, long out, boolean bias) {
        LinearOptions options = new LinearOptions(in, out);
        options.bias().put(bias);
        return new LinearImpl(options);
    }

    /** {@code nn.GroupNorm(num_groups, num_channels, eps=eps, affine=True)}. */
    public static GroupNormImpl groupNorm(long groups, long channels, double eps) {
        GroupNormOptions options = new GroupNormOptions(groups, channels);
        options.eps().put(eps);
        options.affine().put(true);
        return new GroupNormImpl(options);
    }

    /** {@code nn.LayerNorm(dim, eps=eps, elementwise_affine=True)}. */
    public static LayerNormImpl layerNorm(long dim, double eps) {
        // new long[] picks the vector-of-values constructor, not LongVector(long size)
        LayerNormOptions options = new LayerNormOptions(new LongVector(new long[] {dim}));
        options.eps().put(eps);
        options.elementwise_affine().put(true);
        return new LayerNormImpl(options);
    }
}
