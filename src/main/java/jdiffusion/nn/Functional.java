package jdiffusion.nn;

import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The stateless operations the blocks share ({@code torch.nn.functional} in diffusers), wrapped
 * once so forward code reads like the Python and the bytedeco overloads are chosen in one place.
 */
public final class Functional {
    private Functional() {}

    /** {@code F.silu}: x * sigmoid(x). */
    public static Tensor silu(Tensor x) {
        return torch.silu(x);
    }

    /**
     * {@code F.silu} of a temporary that nothing else reads (a norm's output): at inference it is
     * overwritten in place, which saves a buffer of its size and the pass that fills a fresh one
     * (the VAE decoder at 512x512 makes fifteen of 64-128 MB). With gradients on it is F.silu:
     * autograd needs the input.
     */
    public static Tensor siluOfTemporary(Tensor x) {
        return GradMode.is_enabled() ? torch.silu(x) : torch.silu_(x);
    }

    /** {@code F.gelu} with the exact erf form (diffusers' GEGLU uses approximate="none"). */
    public static Tensor gelu(Tensor x) {
        return torch.gelu(x);
    }

    /** {@code torch.cat([a, b], dim)}. */
    public static Tensor cat(Tensor a, Tensor b, long dim) {
        return torch.cat(new TensorVector(a, b), dim);
    }

    /**
     * {@code F.interpolate(x, size=(h, w), mode="nearest")} on [B, C, H, W]. Nearest with
     * scale_factor=2 picks the same source pixels (floor(dst / 2)) as an explicit output size of
     * twice the input, so the ×2 case goes through here too.
     */
    public static Tensor upsampleNearest(Tensor x, long height, long width) {
        return torch.upsample_nearest2d(x, height, width);
    }

    /** {@code F.pad(x, (left, right, top, bottom))} with zeros, on the last two dimensions. */
    public static Tensor padLastTwo(Tensor x, long left, long right, long top, long bottom) {
        return torch.constant_pad_nd(x, left, right, top, bottom);
    }

    public static Tensor mul(Tensor x, double factor) {
        return x.mul(new Scalar(factor));
    }

    public static Tensor div(Tensor x, double divisor) {
        return x.div(new Scalar(divisor));
    }
}
