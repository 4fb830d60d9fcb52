package jdiffusion.tools.shapes;

import java.util.Objects;

/** One combination of the procedural set: what is drawn, in which colours, where and how big. */
public record ShapeScene(Shape shape, Colour colour, Colour background, Position position, Size size) {
    public ShapeScene {
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(colour, "colour");
        Objects.requireNonNull(background, "background");
        Objects.requireNonNull(position, "position");
        Objects.requireNonNull(size, "size");
        if (colour == background) {
            throw new IllegalArgumentException("a " + colour + " shape on a " + background
                    + " background would be invisible: pick a background of another colour");
        }
    }

    @Override
    public String toString() {
        return Captions.canonical(this);
    }
}
