package jdiffusion.tools.shapes;

import java.util.Objects;

/**
 * What a caption says about its scene. {@code size} is null when the caption leaves it unsaid
 * (training captions sometimes do); every other attribute is always present.
 */
public record ParsedCaption(Shape shape, Colour colour, Colour background, Position position, Size size) {
    public ParsedCaption {
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(colour, "colour");
        Objects.requireNonNull(background, "background");
        Objects.requireNonNull(position, "position");
    }

    /** True when every attribute the caption says matches {@code scene}. */
    public boolean describes(ShapeScene scene) {
        return shape == scene.shape() && colour == scene.colour() && background == scene.background()
                && position == scene.position() && (size == null || size == scene.size());
    }

    /** The scene, for captions that say every attribute (the evaluation's canonical ones do). */
    public ShapeScene scene() {
        if (size == null) {
            throw new IllegalStateException("the caption does not say the size (small or large): cannot score it");
        }
        return new ShapeScene(shape, colour, background, position, size);
    }
}
