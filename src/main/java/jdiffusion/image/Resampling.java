package jdiffusion.image;

import java.awt.image.BufferedImage;

/**
 * Pillow's {@code Image.resize} filters that AUTOMATIC1111's plain upscalers use ("Lanczos",
 * "Nearest"), on 8-bit RGB images: separable convolution with the filter's support widened by the
 * scale when shrinking (Pillow's ImagingResample), in double precision, rounded and clamped.
 */
public final class Resampling {
    private Resampling() {}

    /** {@code img.resize((w, h), Image.LANCZOS)}: the a = 3 Lanczos window. */
    public static BufferedImage lanczos(BufferedImage img, int width, int height) {
        BufferedImage rgb = Images.toRgb(img);
        double[][] horizontal = pass(planes(rgb), rgb.getWidth(), rgb.getHeight(), width, true);
        double[][] both = pass(horizontal, width, rgb.getHeight(), height, false);
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int v = 0;
                for (int c = 0; c < 3; c++) v = (v << 8) | clamp(both[c][y * width + x]);
                out.setRGB(x, y, v);
            }
        }
        return out;
    }

    /** {@code img.resize((w, h), Image.NEAREST)}: the source pixel under each target pixel's centre. */
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

    private static double[][] planes(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        double[][] p = new double[3][w * h];
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

    /** One axis: {@code horizontal} resizes the width {@code w -> size}, else the height {@code h -> size}. */
    private static double[][] pass(double[][] in, int w, int h, int size, boolean horizontal) {
        int inSize = horizontal ? w : h;
        double scale = (double) inSize / size;
        double filterScale = Math.max(scale, 1.0);
        double support = 3.0 * filterScale;
        int ow = horizontal ? size : w;
        int oh = horizontal ? h : size;
        double[][] out = new double[3][ow * oh];
        for (int o = 0; o < size; o++) {
            double center = (o + 0.5) * scale;
            int min = Math.max((int) (center - support + 0.5), 0);
            int max = Math.min((int) (center + support + 0.5), inSize);
            double[] k = new double[max - min];
            double sum = 0;
            for (int i = min; i < max; i++) {
                k[i - min] = lanczos3((i - center + 0.5) / filterScale);
                sum += k[i - min];
            }
            for (int c = 0; c < 3; c++) {
                int lines = horizontal ? h : w;
                for (int line = 0; line < lines; line++) {
                    double acc = 0;
                    for (int i = min; i < max; i++) {
                        acc += k[i - min] * (horizontal ? in[c][line * w + i] : in[c][i * w + line]);
                    }
                    out[c][horizontal ? line * ow + o : o * ow + line] = sum == 0 ? 0 : acc / sum;
                }
            }
        }
        return out;
    }

    private static double lanczos3(double x) {
        if (x == 0) return 1;
        if (x <= -3 || x >= 3) return 0;
        double px = Math.PI * x;
        return 3 * Math.sin(px) * Math.sin(px / 3) / (px * px);
    }

    private static int clamp(double v) {
        return (int) Math.max(0, Math.min(255, Math.round(v)));
    }
}
