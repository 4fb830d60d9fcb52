package jdiffusion.training.dreambooth;

import java.awt.image.BufferedImage;
import java.util.random.RandomGenerator;

/**
 * The image side of diffusers' DreamBoothDataset: torchvision's {@code Resize(size, BILINEAR)} on a
 * PIL image (shorter side to {@code size}, PIL's antialiased bilinear resampling),
 * {@code CenterCrop(size)} or {@code RandomCrop(size)}, and {@code RandomHorizontalFlip()}. The
 * {@code ToTensor + Normalize([0.5], [0.5])} step is {@link jdiffusion.image.Images#toTensor}.
 */
public final class ImageTransforms {
    /** PIL's fixed-point precision for 8-bit resampling (Resample.c: 32 - 8 - 2). */
    private static final int PRECISION_BITS = 22;

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
        int w = img.getWidth();
        int h = img.getHeight();
        int[][] rgb = channels(img);
        if (width != w) rgb = resampleRows(rgb, w, h, width, bicubic);
        if (height != h) rgb = resampleColumns(rgb, width, h, height, bicubic);
        return image(rgb, width, height);
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

    // ---------------------------------------------------------------------------------------------
    // PIL Resample.c, 8-bit path

    /** The bilinear ("triangle") filter, support 1. */
    private static double triangle(double x) {
        x = Math.abs(x);
        return x < 1 ? 1 - x : 0;
    }

    /** For each output index: the first input index and the fixed-point weights (precompute_coeffs). */
    private record Coefficients(int[] start, int[][] weights) {}

    /** PIL's bicubic filter (a = -0.5), support 2. */
    private static double bicubic(double x) {
        double a = -0.5;
        x = Math.abs(x);
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    private static Coefficients coefficients(int inSize, int outSize, boolean bicubic) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = (bicubic ? 2 : 1) * filterScale;
        double ss = 1.0 / filterScale;
        int[] start = new int[outSize];
        int[][] weights = new int[outSize][];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
            double[] k = new double[xmax];
            double total = 0;
            for (int x = 0; x < xmax; x++) {
                double arg = (x + xmin - center + 0.5) * ss; // PIL multiplies by 1 / filterscale
                k[x] = bicubic ? bicubic(arg) : triangle(arg);
                total += k[x];
            }
            int[] fixed = new int[xmax];
            for (int x = 0; x < xmax; x++) {
                double v = total != 0 ? k[x] / total : 0;
                // PIL rounds half away from zero when converting to fixed point
                fixed[x] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
            }
            start[xx] = xmin;
            weights[xx] = fixed;
        }
        return new Coefficients(start, weights);
    }

    private static int clip8(long acc) {
        long v = acc >> PRECISION_BITS;
        return (int) Math.max(0, Math.min(255, v));
    }

    private static int[][] resampleRows(int[][] rgb, int w, int h, int outW, boolean bicubic) {
        Coefficients c = coefficients(w, outW, bicubic);
        int[][] out = new int[3][outW * h];
        for (int ch = 0; ch < 3; ch++) {
            for (int y = 0; y < h; y++) {
                for (int xx = 0; xx < outW; xx++) {
                    long acc = 1L << (PRECISION_BITS - 1);
                    int[] k = c.weights()[xx];
                    for (int x = 0; x < k.length; x++) acc += (long) rgb[ch][y * w + c.start()[xx] + x] * k[x];
                    out[ch][y * outW + xx] = clip8(acc);
                }
            }
        }
        return out;
    }

    private static int[][] resampleColumns(int[][] rgb, int w, int h, int outH, boolean bicubic) {
        Coefficients c = coefficients(h, outH, bicubic);
        int[][] out = new int[3][w * outH];
        for (int ch = 0; ch < 3; ch++) {
            for (int yy = 0; yy < outH; yy++) {
                int[] k = c.weights()[yy];
                for (int x = 0; x < w; x++) {
                    long acc = 1L << (PRECISION_BITS - 1);
                    for (int y = 0; y < k.length; y++) acc += (long) rgb[ch][(c.start()[yy] + y) * w + x] * k[y];
                    out[ch][yy * w + x] = clip8(acc);
                }
            }
        }
        return out;
    }

    private static int[][] channels(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        int[][] out = new int[3][w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = img.getRGB(x, y);
                out[0][y * w + x] = (p >> 16) & 0xff;
                out[1][y * w + x] = (p >> 8) & 0xff;
                out[2][y * w + x] = p & 0xff;
            }
        }
        return out;
    }

    private static BufferedImage image(int[][] rgb, int w, int h) {
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                out.setRGB(x, y, (rgb[0][i] << 16) | (rgb[1][i] << 8) | rgb[2][i]);
            }
        }
        return out;
    }
}
