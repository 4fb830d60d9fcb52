package jdiffusion.tools.shapes;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.util.Random;

/**
 * Test images drawn without {@link ShapeRenderer}: other proportions (a wider diamond, a thinner
 * cross, a fatter star, an isosceles triangle), slightly off-palette colours, any canvas size,
 * and blur and noise, so the scorer is tested against known answers it was not fitted to.
 */
final class HandDrawn {
    private HandDrawn() {}

    /**
     * {@code scene} on a {@code pixels} canvas; {@code variant} picks proportions, tilt and tint.
     */
    static BufferedImage draw(ShapeScene scene, int variant, int pixels) {
        Random rng = new Random(variant * 7919L + scene.hashCode());
        BufferedImage img = new BufferedImage(pixels, pixels, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(tint(scene.background(), rng));
        g.fillRect(0, 0, pixels, pixels);
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING,
                variant % 2 == 0 ? RenderingHints.VALUE_ANTIALIAS_ON : RenderingHints.VALUE_ANTIALIAS_OFF);
        g.setColor(tint(scene.colour(), rng));
        double u = pixels / 64.0;
        double half = (scene.size() == Size.SMALL ? 8 : 14) * (0.93 + 0.14 * rng.nextDouble()) * u;
        AffineTransform at = new AffineTransform();
        at.translate((scene.position().x() * 64 + rng.nextDouble() * 3 - 1.5) * u,
                (scene.position().y() * 64 + rng.nextDouble() * 3 - 1.5) * u);
        at.rotate(Math.toRadians(rng.nextDouble() * 16 - 8));
        at.scale(half, half);
        g.fill(at.createTransformedShape(outline(scene.shape(), rng)));
        g.dispose();
        return img;
    }

    private static java.awt.Shape outline(Shape shape, Random rng) {
        return switch (shape) {
            case CIRCLE -> new java.awt.geom.Ellipse2D.Double(-1, -1, 2, 2);
            case SQUARE -> {
                double s = 0.8 + 0.15 * rng.nextDouble();
                yield new java.awt.geom.Rectangle2D.Double(-s, -s, 2 * s, 2 * s);
            }
            case TRIANGLE -> {
                // Isosceles, apex up, base a little wider or narrower than equilateral.
                double w = 0.9 + 0.25 * rng.nextDouble();
                yield path(0, -1.1, w, 0.7, -w, 0.7);
            }
            case DIAMOND -> {
                double w = 0.6 + 0.2 * rng.nextDouble();
                yield path(0, -1, w, 0, 0, 1, -w, 0);
            }
            case CROSS -> {
                double w = 0.28 + 0.12 * rng.nextDouble();
                Path2D p = new Path2D.Double(new java.awt.geom.Rectangle2D.Double(-1, -w, 2, 2 * w));
                p.append(new java.awt.geom.Rectangle2D.Double(-w, -1, 2 * w, 2), false);
                yield p;
            }
            case STAR -> {
                double inner = 0.38 + 0.14 * rng.nextDouble();
                double[] xy = new double[20];
                for (int i = 0; i < 10; i++) {
                    double r = i % 2 == 0 ? 1.05 : inner;
                    double a = -Math.PI / 2 + Math.PI * i / 5;
                    xy[2 * i] = r * Math.cos(a);
                    xy[2 * i + 1] = r * Math.sin(a);
                }
                yield path(xy);
            }
        };
    }

    private static Path2D path(double... xy) {
        Path2D p = new Path2D.Double();
        p.moveTo(xy[0], xy[1]);
        for (int i = 2; i < xy.length; i += 2) p.lineTo(xy[i], xy[i + 1]);
        p.closePath();
        return p;
    }

    /** The named colour moved by up to 20 per channel, as a generator would miss it. */
    private static Color tint(Colour c, Random rng) {
        return new Color(clamp(c.red() + rng.nextInt(41) - 20), clamp(c.green() + rng.nextInt(41) - 20),
                clamp(c.blue() + rng.nextInt(41) - 20));
    }

    /** Gaussian blur with standard deviation {@code sigma} pixels, per channel, edges clamped. */
    static BufferedImage blur(BufferedImage img, double sigma) {
        int w = img.getWidth();
        int h = img.getHeight();
        int k = (int) Math.ceil(3 * sigma);
        double[] kernel = new double[2 * k + 1];
        double sum = 0;
        for (int i = -k; i <= k; i++) sum += kernel[i + k] = Math.exp(-i * i / (2 * sigma * sigma));
        for (int i = 0; i < kernel.length; i++) kernel[i] /= sum;
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        double[][] tmp = new double[3][w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int i = -k; i <= k; i++) {
                    int p = img.getRGB(Math.clamp(x + i, 0, w - 1), y);
                    for (int c = 0; c < 3; c++) tmp[c][y * w + x] += kernel[i + k] * ((p >> (16 - 8 * c)) & 0xff);
                }
            }
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = 0;
                for (int c = 0; c < 3; c++) {
                    double acc = 0;
                    for (int i = -k; i <= k; i++) acc += kernel[i + k] * tmp[c][Math.clamp(y + i, 0, h - 1) * w + x];
                    rgb |= clamp((int) Math.round(acc)) << (16 - 8 * c);
                }
                out.setRGB(x, y, rgb);
            }
        }
        return out;
    }

    /** Independent Gaussian noise of standard deviation {@code sigma} on every channel of every pixel. */
    static BufferedImage noise(BufferedImage img, double sigma, long seed) {
        Random rng = new Random(seed);
        BufferedImage out = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int p = img.getRGB(x, y);
                int rgb = 0;
                for (int c = 0; c < 3; c++) {
                    int v = (p >> (16 - 8 * c)) & 0xff;
                    rgb |= clamp((int) Math.round(v + sigma * rng.nextGaussian())) << (16 - 8 * c);
                }
                out.setRGB(x, y, rgb);
            }
        }
        return out;
    }

    private static int clamp(int v) {
        return Math.clamp(v, 0, 255);
    }
}
