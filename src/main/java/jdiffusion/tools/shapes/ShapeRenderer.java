package jdiffusion.tools.shapes;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.geom.PathIterator;
import java.awt.image.BufferedImage;

/**
 * Draws a {@link ShapeScene} as an RGB image: a flat background and one flat, anti-aliased shape.
 * Only the edge pixels mix the two colours, so the named colours stay exact for the scorer.
 */
public final class ShapeRenderer {
    /** The training resolution of the tiny model. */
    public static final int SIZE = 64;

    private ShapeRenderer() {}

    /** The scene at 64x64. */
    public static BufferedImage render(ShapeScene scene, Jitter jitter) {
        return render(scene, jitter, SIZE);
    }

    /** The scene on a {@code pixels x pixels} canvas (the layout scales with the canvas). */
    public static BufferedImage render(ShapeScene scene, Jitter jitter, int pixels) {
        BufferedImage img = new BufferedImage(pixels, pixels, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(new Color(scene.background().rgb()));
            g.fillRect(0, 0, pixels, pixels);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            g.setColor(new Color(scene.colour().rgb()));
            double half = scene.size().extent() * jitter.scale() * pixels / 2;
            AffineTransform at = new AffineTransform();
            at.translate((scene.position().x() + jitter.dx()) * pixels, (scene.position().y() + jitter.dy()) * pixels);
            at.rotate(Math.toRadians(jitter.degrees()));
            at.scale(half, half);
            g.fill(at.createTransformedShape(outline(scene.shape())));
        } finally {
            g.dispose();
        }
        return img;
    }

    /**
     * The outline in unit coordinates: centred on the origin, y down, about two units across (a
     * circle of radius 1), so that every family has roughly the same extent for the same size word.
     */
    public static java.awt.Shape outline(Shape shape) {
        return switch (shape) {
            case CIRCLE -> new Ellipse2D.Double(-1, -1, 2, 2);
            // 0.9: a full-width square looks much heavier than a circle of the same width.
            case SQUARE -> polygon(-0.9, -0.9, 0.9, -0.9, 0.9, 0.9, -0.9, 0.9);
            // Equilateral, pointing up, circumradius 1.15, centroid at the origin: about 2 units wide.
            case TRIANGLE -> star(3, 1.15, 1.15 / 2);
            case DIAMOND -> polygon(0, -1, 0.7, 0, 0, 1, -0.7, 0);
            case CROSS -> cross(1, 0.33);
            // Inner radius 0.45: the concave notches stay visible at 16 pixels.
            case STAR -> star(5, 1.1, 0.45);
        };
    }

    /** Area of {@link #outline} in unit coordinates (pi for the circle). */
    public static double unitArea(Shape shape) {
        double area = 0;
        double[] c = new double[6];
        double startX = 0, startY = 0, x = 0, y = 0;
        for (PathIterator it = outline(shape).getPathIterator(null, 1e-4); !it.isDone(); it.next()) {
            switch (it.currentSegment(c)) {
                case PathIterator.SEG_MOVETO -> {
                    startX = x = c[0];
                    startY = y = c[1];
                }
                case PathIterator.SEG_LINETO -> {
                    area += x * c[1] - c[0] * y;
                    x = c[0];
                    y = c[1];
                }
                default -> {
                    area += x * startY - startX * y;
                    x = startX;
                    y = startY;
                }
            }
        }
        return Math.abs(area) / 2;
    }

    /**
     * A star polygon with {@code points} tips at radius {@code outer} and notches at {@code inner},
     * first tip up. With {@code inner = outer * cos(pi / points)} the notches lie on the edges, so
     * three points and half the radius make an equilateral triangle.
     */
    private static Path2D star(int points, double outer, double inner) {
        Path2D p = new Path2D.Double();
        for (int i = 0; i < 2 * points; i++) {
            double r = i % 2 == 0 ? outer : inner;
            double a = -Math.PI / 2 + Math.PI * i / points;
            if (i == 0) p.moveTo(r * Math.cos(a), r * Math.sin(a));
            else p.lineTo(r * Math.cos(a), r * Math.sin(a));
        }
        p.closePath();
        return p;
    }

    private static Path2D cross(double arm, double halfWidth) {
        double a = arm;
        double w = halfWidth;
        return polygon(-w, -a, w, -a, w, -w, a, -w, a, w, w, w, w, a, -w, a, -w, w, -a, w, -a, -w, -w, -w);
    }

    private static Path2D polygon(double... xy) {
        Path2D p = new Path2D.Double();
        p.moveTo(xy[0], xy[1]);
        for (int i = 2; i < xy.length; i += 2) p.lineTo(xy[i], xy[i + 1]);
        p.closePath();
        return p;
    }
}
