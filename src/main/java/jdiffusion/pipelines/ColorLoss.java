package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * The diffusion course's unit 2 {@code color_loss}: the mean absolute distance of every pixel to a
 * target colour, {@code |x0 - (2 c - 1)|.mean()} with c in [0, 1] per channel.
 *
 * <pre>{@code
 * var guidance = new PixelGuidance(new ColorLoss(new float[] {0.1f, 0.9f, 0.5f}), 40, false);
 * }</pre>
 */
public record ColorLoss(float[] target) implements PixelGuidance.Loss {
    public ColorLoss {
        if (target == null || target.length == 0) throw new JDiffusionException("the guide colour needs at least one channel");
        for (float c : target) {
            if (!(c >= 0 && c <= 1)) throw new JDiffusionException("guide colour values must be in [0, 1], got " + c);
        }
        target = target.clone();
    }

    /** "0.1,0.9,0.5" -> the colour, with a one-line error for anything else. */
    public static ColorLoss parse(String text) {
        String[] parts = text.split(",");
        float[] c = new float[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                c[i] = Float.parseFloat(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new JDiffusionException("--guide-color must be comma-separated numbers in [0, 1] such as 0.1,0.9,0.5, got \"" + text + "\"");
            }
        }
        return new ColorLoss(c);
    }

    @Override
    public Tensor apply(Tensor x0) {
        if (x0.size(1) != target.length) {
            throw new JDiffusionException("the guide colour has " + target.length + " channels, the images " + x0.size(1));
        }
        float[] mapped = new float[target.length];
        for (int i = 0; i < mapped.length; i++) mapped[i] = target[i] * 2 - 1; // [0, 1] -> [-1, 1], in float32 as torch
        Tensor t = Tensors.fromFloats(mapped, 1, mapped.length, 1, 1).to(x0.device(), x0.scalar_type());
        return x0.sub(t).abs().mean();
    }
}
