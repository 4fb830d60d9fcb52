package jdiffusion.tools.shapes;

import java.awt.image.BufferedImage;

/**
 * Scores a generated image against the scene it was asked for, by image analysis only: background
 * colour from the border, shape colour from the pixels that differ most, shape family from the
 * outline's geometry ({@link ShapeFeatures}), position from the centroid and size from the extent.
 * Any image size works; the analysis runs at 64x64.
 */
public final class ShapeScorer {
    private ShapeScorer() {}

    /** What the image shows. */
    public static Detection detect(BufferedImage image) {
        Foreground fg = Foreground.of(image);
        Colour background = Colour.nearest(fg.background[0], fg.background[1], fg.background[2]);
        if (!fg.found()) return Detection.empty(background);
        Colour colour = Colour.nearest(fg.colour[0], fg.colour[1], fg.colour[2]);
        ShapeFeatures f = ShapeFeatures.of(fg);
        return new Detection(background, colour, f.shape(), f.position(), f.size(), f);
    }

    /** {@code image} scored against {@code expected}. */
    public static ShapeScore score(BufferedImage image, ShapeScene expected) {
        return new ShapeScore(expected, detect(image));
    }

    /** {@code image} scored against the scene {@code caption} describes (it must say every attribute). */
    public static ShapeScore score(BufferedImage image, String caption) {
        return score(image, CaptionParser.parse(caption).scene());
    }
}
