package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/** AUTOMATIC1111's "apply overlay" after inpainting: the input's pixels outside the (blurred) mask, the result's inside. */
final class MaskOverlay {
    private MaskOverlay() {}

    static List<BufferedImage> apply(List<BufferedImage> images, BufferedImage init, BufferedImage mask) {
        List<BufferedImage> out = new ArrayList<>();
        for (BufferedImage img : images) {
            BufferedImage o = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    double a = (mask.getRGB(x, y) & 0xff) / 255.0;
                    int p = img.getRGB(x, y);
                    int q = init.getRGB(x, y);
                    int rgb = 0;
                    for (int shift = 16; shift >= 0; shift -= 8) {
                        int c = (int) Math.round(((p >> shift) & 0xff) * a + ((q >> shift) & 0xff) * (1 - a));
                        rgb |= c << shift;
                    }
                    o.setRGB(x, y, rgb);
                }
            }
            out.add(o);
        }
        return out;
    }
}
