package jdiffusion.training.dreambooth;

import java.awt.image.BufferedImage;
import java.util.random.RandomGenerator;
import jdiffusion.image.Resampling;

/**
 * The image side of diffusers' DreamBoothDataset: torchvision's {@code Resize(size, BILINEAR)} on a
 * PIL image (shorter side to {@code size}, PIL's antialiased bilinear resampling),
 * {@code CenterCrop(size)} or {@code RandomCrop(size)}, and {@code RandomHorizontalFlip()}. The
 * {@code ToTensor + Normalize([0.5], [0.5])} step is {@link jdiffusion.image.Images#toTensor}.
 */
public final class ImageTransforms {
    private ImageTransforms() {}

    /**
     * torchvision {@code Resize(size)}: the shorter side becomes {@code size}, the longer
     * {@code int(size * long / short)} (truncated, as torchvision computes it).
     */
    public static BufferedImage resizeShorterSide(BufferedImage img, int size) {
        int w = img.getWidth();
        int h = img.getHeight();
        int newW;
        int newH;
        if (w <= h) {
            newW = size;
            newH = (int) ((long) size * h / w);
        } else {
            newH = size;
            newW = (int) ((long) size * w / h);
        }
        return resizeBilinear(img, newW, newH);
    }

    /**
     * PIL's {@code Image.resize((w, h), BILINEAR)} for RGB: a triangle filter whose support widens
     * with the reduction factor (so down-scaling averages, unlike plain bilinear interpolation),
     * horizontal pass then vertical pass, each rounded to 8 bits as PIL does.
     */
    public static BufferedImage resizeBilinear(BufferedImage img, int width, int height) {
        return resize(img, width, height, false);
    }

    /**
     * PIL's {@code Image.resize((w, h), BICUBIC)} for RGB (CLIPImageProcessor's resample 3): the cubic
     * filter with a = -0.5 and support 2, widened by the reduction factor, rounded and clipped to 8 bits.
     */
    public static BufferedImage resizeBicubic(BufferedImage img, int width, int height) {
        return resize(img, width, height, true);
    }

    private static BufferedImage resize(BufferedImage img, int width, int height, boolean bicubic) {
        // Pillow's resampler, shared with the image processors and hires fix
        return Resampling.resize(img, width, height, bicubic ? Resampling.Filter.BICUBIC : Resampling.Filter.BILINEAR);
    }

    /** torchvision CenterCrop: top = round((h - size) / 2), left likewise, Python's round (half to even). */
    public static BufferedImage centerCrop(BufferedImage img, int size) {
        requireCoverable(img, size);
        int top = (int) Math.rint((img.getHeight() - size) / 2.0);
        int left = (int) Math.rint((img.getWidth() - size) / 2.0);
        return crop(img, left, top, size);
    }

    /** torchvision RandomCrop: top and left uniform over every position that fits (top drawn first). */
    public static BufferedImage randomCrop(BufferedImage img, int size, RandomGenerator rng) {
        requireCoverable(img, size);
        int top = rng.nextInt(img.getHeight() - size + 1);
        int left = rng.nextInt(img.getWidth() - size + 1);
        return crop(img, left, top, size);
    }

    /** The mirror image (left and right swapped). */
    public static BufferedImage flipHorizontal(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) out.setRGB(w - 1 - x, y, img.getRGB(x, y));
        }
        return out;
    }

    private static BufferedImage crop(BufferedImage img, int left, int top, int size) {
        BufferedImage out = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) out.setRGB(x, y, img.getRGB(left + x, top + y));
        }
        return out;
    }

    private static void requireCoverable(BufferedImage img, int size) {
        if (img.getWidth() < size || img.getHeight() < size) {
            throw new IllegalArgumentException(img.getWidth() + "x" + img.getHeight() + " is smaller than the crop " + size);
        }
    }
}
