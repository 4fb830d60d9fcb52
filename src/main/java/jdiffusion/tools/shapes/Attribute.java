package jdiffusion.tools.shapes;

import java.util.OptionalDouble;

/** The attributes the evaluation scores, with the accuracy the issue sets as target (size has none). */
public enum Attribute {
    COLOUR(0.90),
    BACKGROUND(0.90),
    SHAPE(0.75),
    POSITION(0.75),
    SIZE(Double.NaN);

    private final double target;

    Attribute(double target) {
        this.target = target;
    }

    /** The accuracy to reach at the default guidance, if the issue sets one. */
    public OptionalDouble target() {
        return Double.isNaN(target) ? OptionalDouble.empty() : OptionalDouble.of(target);
    }

    /** Lower case, for tables. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
