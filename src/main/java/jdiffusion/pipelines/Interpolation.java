package jdiffusion.pipelines;

import org.bytedeco.pytorch.InterpolateFuncOptions;
import org.bytedeco.pytorch.LongVector;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.kBicubic;
import org.bytedeco.pytorch.kBilinear;
import org.bytedeco.pytorch.kNearest;
import org.bytedeco.pytorch.kNearestExact;

/** {@code torch.nn.functional.interpolate(x, size=(h, w), mode=..., antialias=...)} on [B, C, H, W], align_corners False. */
final class Interpolation {
    private Interpolation() {}

    /** @param mode "bilinear", "bicubic", "nearest" or "nearest-exact" */
    static Tensor resize(Tensor x, long height, long width, String mode, boolean antialias) {
        try (InterpolateFuncOptions o = new InterpolateFuncOptions()) {
            o.size().put(new LongVector(height, width));
            switch (mode) {
                case "bilinear" -> o.mode().put(new kBilinear());
                case "bicubic" -> o.mode().put(new kBicubic());
                case "nearest" -> o.mode().put(new kNearest());
                case "nearest-exact" -> o.mode().put(new kNearestExact());
                default -> throw new IllegalArgumentException("interpolation mode " + mode);
            }
            boolean smooth = mode.equals("bilinear") || mode.equals("bicubic");
            if (smooth) o.align_corners().put(false);
            o.antialias().put(antialias);
            return torch.interpolate(x, o);
        }
    }
}
