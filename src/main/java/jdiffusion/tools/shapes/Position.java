package jdiffusion.tools.shapes;

import java.util.List;

/**
 * Where the shape sits, as the centre of the shape in fractions of the image (x right, y down).
 * The corner anchors are at 0.31 / 0.69 so that a large shape with jitter still fits inside the
 * image, and they are 17 pixels (at 64x64) from the centre anchor, so a centroid is easy to assign.
 */
public enum Position {
    CENTRE(0.5, 0.5, List.of("centre", "center", "middle")),
    TOP_LEFT(0.31, 0.31, List.of("top left", "upper left")),
    TOP_RIGHT(0.69, 0.31, List.of("top right", "upper right")),
    BOTTOM_LEFT(0.31, 0.69, List.of("bottom left", "lower left")),
    BOTTOM_RIGHT(0.69, 0.69, List.of("bottom right", "lower right"));

    private final double x;
    private final double y;
    private final List<String> phrases;

    Position(double x, double y, List<String> phrases) {
        this.x = x;
        this.y = y;
        this.phrases = phrases;
    }

    /** Horizontal centre in [0, 1], left to right. */
    public double x() {
        return x;
    }

    /** Vertical centre in [0, 1], top to bottom. */
    public double y() {
        return y;
    }

    /** The bare phrases captions may use ("top left"); the first is the canonical one. */
    public List<String> phrases() {
        return phrases;
    }

    public boolean isCorner() {
        return this != CENTRE;
    }

    /** The position whose anchor is nearest to {@code (x, y)} (fractions of the image). */
    public static Position nearest(double x, double y) {
        Position best = CENTRE;
        double bestD = Double.MAX_VALUE;
        for (Position p : values()) {
            double d = (p.x - x) * (p.x - x) + (p.y - y) * (p.y - y);
            if (d < bestD) {
                bestD = d;
                best = p;
            }
        }
        return best;
    }
}
