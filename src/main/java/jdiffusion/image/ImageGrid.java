package jdiffusion.image;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Images of a pixel-space pipeline's output ({@code [B, H, W, C]} float in [0, 1], C = 1 or 3) and
 * diffusers' {@code make_image_grid}: the images left to right, top to bottom, in a grid.
 */
public final class ImageGrid {
    private ImageGrid() {}

    /** One image per batch entry; one channel gives a grey image. Bytes are round(x * 255) (diffusers numpy_to_pil rounds too). */
    public static List<BufferedImage> fromNhwc(Tensor images) {
        long[] s = Tensors.shape(images);
        if (s.length != 4 || (s[3] != 1 && s[3] != 3)) {
            throw new JDiffusionException("images must be [B, H, W, 1 or 3], got " + Tensors.shapeString(s));
        }
        int b = (int) s[0], h = (int) s[1], w = (int) s[2], c = (int) s[3];
        float[] v = Tensors.toFloats(images);
        List<BufferedImage> out = new ArrayList<>();
        for (int n = 0; n < b; n++) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int i = ((n * h + y) * w + x) * c;
                    int r = toByte(v[i]);
                    int g = c == 3 ? toByte(v[i + 1]) : r;
                    int bl = c == 3 ? toByte(v[i + 2]) : r;
                    img.setRGB(x, y, (r << 16) | (g << 8) | bl);
                }
            }
            out.add(img);
        }
        return out;
    }

    private static int toByte(float x) {
        return Math.round(Math.min(1f, Math.max(0f, x)) * 255f);
    }

    /** {@code make_image_grid(images, rows, cols)}; all images must have one size. */
    public static BufferedImage grid(List<BufferedImage> images, int rows, int cols) {
        if (images.isEmpty() || rows * cols < images.size()) {
            throw new JDiffusionException("a " + rows + "x" + cols + " grid cannot hold " + images.size() + " images");
        }
        int w = images.getFirst().getWidth(), h = images.getFirst().getHeight();
        BufferedImage grid = new BufferedImage(cols * w, rows * h, BufferedImage.TYPE_INT_RGB);
        var g = grid.createGraphics();
        for (int i = 0; i < images.size(); i++) g.drawImage(images.get(i), (i % cols) * w, (i / cols) * h, null);
        g.dispose();
        return grid;
    }

    /** A grid as square as possible: ceil(sqrt(n)) columns. */
    public static BufferedImage grid(List<BufferedImage> images) {
        int cols = (int) Math.ceil(Math.sqrt(images.size()));
        return grid(images, (images.size() + cols - 1) / cols, cols);
    }

    /** Writes {@code image} as PNG to {@code path} through a temporary file. */
    public static void writePng(Path path, BufferedImage image) {
        AtomicFiles.write(path, tmp -> {
            if (!ImageIO.write(image, "png", tmp.toFile())) throw new java.io.IOException("no PNG writer");
        });
    }
}
