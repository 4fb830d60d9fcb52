package jdiffusion.tools.shapes;

import java.util.List;

/**
 * How big the shape is, as its nominal extent (the diameter of a circle) in fractions of the image
 * width: 16 and 28 pixels at 64x64. The scorer splits at their geometric mean.
 */
public enum Size {
    SMALL(0.25, List.of("small", "little")),
    LARGE(0.4375, List.of("large", "big"));

    private final double extent;
    private final List<String> words;

    Size(double extent, List<String> words) {
        this.extent = extent;
        this.words = words;
    }

    /** The nominal extent in fractions of the image width. */
    public double extent() {
        return extent;
    }

    /** The words captions may use for this size; the first is the canonical one. */
    public List<String> words() {
        return words;
    }

    /** The size whose extent is nearest to {@code extent} on a log scale. */
    public static Size nearest(double extent) {
        return extent < Math.sqrt(SMALL.extent * LARGE.extent) ? SMALL : LARGE;
    }
}
