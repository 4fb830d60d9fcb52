package jdiffusion.tools.shapes;

/**
 * What the scorer sees in an image. {@code background} is always set; the other attributes and
 * {@code features} are null when nothing in the image stands out from the background.
 */
public record Detection(Colour background, Colour colour, Shape shape, Position position, Size size,
        ShapeFeatures features) {
    /** An image with nothing but background. */
    static Detection empty(Colour background) {
        return new Detection(background, null, null, null, null, null);
    }

    public boolean found() {
        return shape != null;
    }

    @Override
    public String toString() {
        if (!found()) return "nothing on a " + background + " background";
        return size + " " + colour + " " + shape + " at " + position + " on " + background + " (" + features + ")";
    }
}
