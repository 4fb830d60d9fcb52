package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A user-given depth map for depth-to-image (diffusers' {@code depth_map} argument): any positive size
 * (it is resized to the latents, bicubic) and any scale (it is min-max normalised), larger values
 * nearer, as the DPT estimator gives them. Held on the heap, so a request can carry it anywhere.
 *
 * <pre>{@code
 * DepthMap d = DepthMap.read(Path.of("depth.safetensors"));   // one tensor, [H, W] or [1, H, W]
 * DepthMap e = DepthMap.read(Path.of("depth.png"));           // an image: its luminance
 * }</pre>
 */
public record DepthMap(int height, int width, float[] values) {
    public DepthMap {
        if (height < 2 || width < 2 || height > GenerationRequest.MAX_SIDE || width > GenerationRequest.MAX_SIDE) {
            throw new JDiffusionException("--depth-map must be between 2x2 and " + GenerationRequest.MAX_SIDE + " pixels a side, not "
                    + width + "x" + height);
        }
        if (values.length != height * width) throw new IllegalArgumentException("values must hold height * width floats");
        float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
        for (float v : values) {
            if (!Float.isFinite(v)) throw new JDiffusionException("--depth-map holds a value that is not a finite number (" + v + ")");
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        if (min == max) {
            throw new JDiffusionException("--depth-map is constant (every value " + min + "): it has no depth to follow");
        }
    }

    /** A {@code .safetensors} file with one tensor of shape [H, W] or [1, H, W], or an image (its luminance). */
    public static DepthMap read(Path file) {
        if (!Files.isRegularFile(file)) throw new JDiffusionException("--depth-map " + file + ": file not found");
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) return fromSafetensors(file);
        try {
            return of(Images.read(file));
        } catch (JDiffusionException e) {
            throw new JDiffusionException("--depth-map " + e.getMessage() + " (or a .safetensors file with one [H, W] tensor)", e);
        }
    }

    private static DepthMap fromSafetensors(Path file) {
        try (SafetensorsFile st = SafetensorsFile.open(file); PointerScope scope = new PointerScope()) {
            if (st.names().size() != 1) {
                throw new JDiffusionException("--depth-map " + file + " must hold exactly one tensor, found " + st.names().size()
                        + " (" + String.join(", ", st.names()) + ")");
            }
            String name = st.names().iterator().next();
            long[] shape = st.info(name).shape();
            boolean ok = shape.length == 2 || shape.length == 3 && shape[0] == 1;
            if (!ok) {
                throw new JDiffusionException("--depth-map " + file + ": tensor '" + name + "' has shape " + Tensors.shapeString(shape)
                        + "; a depth map is [H, W] or [1, H, W]");
            }
            long h = shape[shape.length - 2], w = shape[shape.length - 1];
            if (h > GenerationRequest.MAX_SIDE || w > GenerationRequest.MAX_SIDE) {
                throw new JDiffusionException("--depth-map " + file + " is " + w + "x" + h + ", above " + GenerationRequest.MAX_SIDE + " a side");
            }
            Tensor t = st.load(name, ScalarType.Float);
            return new DepthMap((int) h, (int) w, Tensors.toFloats(t.reshape(h, w)));
        }
    }

    /** An image's luminance (ITU-R 601, as Pillow's convert("L")) in [0, 1]. */
    public static DepthMap of(BufferedImage image) {
        int h = image.getHeight(), w = image.getWidth();
        float[] v = new float[h * w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = image.getRGB(x, y);
                v[y * w + x] = (0.299f * ((rgb >> 16) & 0xff) + 0.587f * ((rgb >> 8) & 0xff) + 0.114f * (rgb & 0xff)) / 255f;
            }
        }
        return new DepthMap(h, w, v);
    }

    /** [1, H, W] float32. */
    public Tensor tensor() {
        return Tensors.fromFloats(values, 1, height, width);
    }
}
