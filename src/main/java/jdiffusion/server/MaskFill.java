package jdiffusion.server;

import java.awt.image.BufferedImage;

/**
 * A1111's inpainting preprocessing of the image under the mask: {@code inpainting_fill = 0}
 * ("fill") starts the masked area from the colours around it instead of the original content.
 * A1111 (modules/masking.py fill) composites ever sharper blurs of the unmasked pixels; this
 * takes the simplest member of that family, the mean colour of the unmasked pixels, which is what
 * its widest blur (radius 256) gives on images up to a few hundred pixels.
 */
final class MaskFill {
    private MaskFill() {}

    /** White = repaint, as A1111 reads masks (the luminance's top bit). */
    static boolean repaint(int rgb) {
        int r = (rgb >> 16) & 0xff;
        int g = (rgb >> 8) & 0xff;
        int b = rgb & 0xff;
        return (r * 299 + g * 587 + b * 114) / 1000 >= 128;
    }

    static BufferedImage invert(BufferedImage mask) {
        BufferedImage out = new BufferedImage(mask.getWidth(), mask.getHeight(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < mask.getHeight(); y++) {
            for (int x = 0; x < mask.getWidth(); x++) out.setRGB(x, y, ~mask.getRGB(x, y) & 0xffffff);
        }
        return out;
    }

    static BufferedImage fill(BufferedImage image, BufferedImage mask) {
        long r = 0, g = 0, b = 0, n = 0;
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                if (repaint(mask.getRGB(x, y))) continue;
                int p = image.getRGB(x, y);
                r += (p >> 16) & 0xff;
                g += (p >> 8) & 0xff;
                b += p & 0xff;
                n++;
            }
        }
        if (n == 0) return image; // everything is repainted: nothing to take colours from
        int mean = (int) (r / n) << 16 | (int) (g / n) << 8 | (int) (b / n);
        BufferedImage out = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                out.setRGB(x, y, repaint(mask.getRGB(x, y)) ? mean : image.getRGB(x, y) & 0xffffff);
            }
        }
        return out;
    }
}
