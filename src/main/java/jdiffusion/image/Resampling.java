package jdiffusion.image;

import java.awt.image.BufferedImage;

/**
 * Pillow's {@code Image.resize} on 8-bit RGB images, exactly (libImaging/Resample.c): separable
 * convolution, the horizontal pass first into an 8-bit image, the filter's support widened by the
 * scale when shrinking (so it antialiases), coefficients normalised and turned into 22-bit fixed
 * point, the sums rounded and clipped. transformers' image processors (DPTImageProcessor: bilinear)
 * and AUTOMATIC1111's "Lanczos" upscaler resize this way; {@link #nearest} is Pillow's NEAREST.
 *
 * <pre>{@code
 * BufferedImage small = Resampling.resize(image, 384, 384, Resampling.Filter.BILINEAR);
 * }</pre>
 */
public final class Resampling {
    private Resampling() {}

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** Pillow's filters with their support (in source pixels at scale 1). */
    public enum Filter {
        BILINEAR(1.0), BICUBIC(2.0), LANCZOS(3.0);

        private final double support;

        Filter(double support) {
            this.support = support;
        }

        double weight(double x) {
            x = Math.abs(x);
            return switch (this) {
                case BILINEAR -> x < 1.0 ? 1.0 - x : 0.0;
                case BICUBIC -> {
                    double a = -0.5;
                    if (x < 1.0) yield ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                    if (x < 2.0) yield (((x - 5) * x + 8) * x - 4) * a;
                    yield 0.0;
                }
                case LANCZOS -> x < 3.0 ? sinc(x) * sinc(x / 3.0) : 0.0;
            };
        }

        private static double sinc(double x) {
            if (x == 0.0) return 1.0;
            x *= Math.PI;
            return Math.sin(x) / x;
        }

        /** Pillow's resample codes as preprocessor_config.json stores them (1 LANCZOS, 2 BILINEAR, 3 BICUBIC). */
        public static Filter ofPillowCode(int code) {
            return switch (code) {
                case 1 -> LANCZOS;
                case 2 -> BILINEAR;
                case 3 -> BICUBIC;
                default -> throw new jdiffusion.JDiffusionException("resample " + code
                        + " is not one of Pillow's filters built here (1 LANCZOS, 2 BILINEAR, 3 BICUBIC)");
            };
        }
    }

    /** {@code img.resize((width, height), filter)}. */
    public static BufferedImage resize(BufferedImage img, int width, int height, Filter filter) {
        int[][] rgb = channels(Images.toRgb(img));
        int w = img.getWidth(), h = img.getHeight();
        if (width != w) {
            rgb = pass(rgb, w, h, width, true, filter);
            w = width;
        }
        if (height != h) {
            rgb = pass(rgb, w, h, height, false, filter);
            h = height;
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                out.setRGB(x, y, (rgb[0][i] << 16) | (rgb[1][i] << 8) | rgb[2][i]);
            }
        }
        return out;
    }

    /** {@code img.resize((width, height), Image.NEAREST)}: the source pixel under each target pixel's centre. */
    public static BufferedImage nearest(BufferedImage img, int width, int height) {
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            int sy = Math.min((int) ((y + 0.5) * img.getHeight() / height), img.getHeight() - 1);
            for (int x = 0; x < width; x++) {
                int sx = Math.min((int) ((x + 0.5) * img.getWidth() / width), img.getWidth() - 1);
                out.setRGB(x, y, img.getRGB(sx, sy) & 0xffffff);
            }
        }
        return out;
    }

    private static int[][] channels(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        int[][] p = new int[3][w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int v = img.getRGB(x, y);
                p[0][y * w + x] = (v >> 16) & 0xff;
                p[1][y * w + x] = (v >> 8) & 0xff;
                p[2][y * w + x] = v & 0xff;
            }
        }
        return p;
    }

    /** One axis (precompute_coeffs + normalize_coeffs_8bpc + ImagingResample{Horizontal,Vertical}_8bpc). */
    private static int[][] pass(int[][] in, int w, int h, int size, boolean horizontal, Filter filter) {
        int inSize = horizontal ? w : h;
        double scale = (double) inSize / size;
        double filterScale = Math.max(scale, 1.0);
        double support = filter.support * filterScale;
        int ow = horizontal ? size : w;
        int oh = horizontal ? h : size;
        int[][] out = new int[3][ow * oh];
        for (int o = 0; o < size; o++) {
            double center = (o + 0.5) * scale;
            int min = Math.max((int) (center - support + 0.5), 0);
            int max = Math.min((int) (center + support + 0.5), inSize);
            double[] k = new double[max - min];
            double sum = 0.0;
            for (int i = min; i < max; i++) {
                k[i - min] = filter.weight((i - center + 0.5) / filterScale);
                sum += k[i - min];
            }
            int[] fixed = new int[k.length];
            for (int i = 0; i < k.length; i++) {
                double v = sum != 0.0 ? k[i] / sum : k[i];
                fixed[i] = (int) (v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
            }
            int lines = horizontal ? h : w;
            for (int c = 0; c < 3; c++) {
                for (int line = 0; line < lines; line++) {
                    int acc = 1 << (PRECISION_BITS - 1);
                    for (int i = min; i < max; i++) {
                        acc += fixed[i - min] * (horizontal ? in[c][line * w + i] : in[c][i * w + line]);
                    }
                    out[c][horizontal ? line * ow + o : o * ow + line] = clip8(acc);
                }
            }
        }
        return out;
    }

    private static int clip8(int v) {
        int shifted = v >> PRECISION_BITS;
        return shifted < 0 ? 0 : Math.min(shifted, 255);
    }
}
