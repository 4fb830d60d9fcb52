package jdiffusion.tools.shapes;

import java.util.List;

/**
 * The shape families of the procedural set. {@link #STAR} is renderable and scorable but never in
 * the training split: DreamBooth teaches it later from a handful of instance images.
 */
public enum Shape {
    CIRCLE(List.of("circle", "disc")),
    SQUARE(List.of("square", "box")),
    TRIANGLE(List.of("triangle")),
    /** A rhombus taller than wide (the card-suit diamond), so it differs from a square by more than its tilt. */
    DIAMOND(List.of("diamond", "rhombus")),
    /** A plus sign with arms along the image axes. */
    CROSS(List.of("cross", "plus")),
    STAR(List.of("star"));

    private final List<String> words;

    Shape(List<String> words) {
        this.words = words;
    }

    /** The words captions may use for this shape; the first is the canonical one. */
    public List<String> words() {
        return words;
    }

    /** True for the families the text-to-image model trains on (all but the held-out star). */
    public boolean inTraining() {
        return this != STAR;
    }
}
