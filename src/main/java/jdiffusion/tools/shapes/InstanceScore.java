package jdiffusion.tools.shapes;

import java.awt.image.BufferedImage;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdiffusion.JDiffusionException;

/**
 * The DreamBooth check on the tiny model: do images drawn from the instance prompt show the
 * subject of the instance images? The subject is what the scorer sees in most instance images
 * (its shape family, its colour, and the background they share); each generated image counts
 * for each attribute the scorer sees the same.
 *
 * @param subjectShape      the shape most instance images show (the star, for the held-out family)
 * @param subjectColour     the colour most instance images show
 * @param subjectBackground the background most instance images show
 * @param images            generated images scored
 * @param shapeMatches      of them, those showing {@code subjectShape}
 * @param colourMatches     of them, those in {@code subjectColour}
 * @param backgroundMatches of them, those on {@code subjectBackground}
 */
public record InstanceScore(Shape subjectShape, Colour subjectColour, Colour subjectBackground, int images,
                            int shapeMatches, int colourMatches, int backgroundMatches) {

    /** Scores {@code generated} against the subject of {@code instances}. */
    public static InstanceScore of(List<BufferedImage> instances, List<BufferedImage> generated) {
        Map<Shape, Integer> shapes = new EnumMap<>(Shape.class);
        Map<Colour, Integer> colours = new EnumMap<>(Colour.class);
        Map<Colour, Integer> backgrounds = new EnumMap<>(Colour.class);
        for (BufferedImage img : instances) {
            Detection d = ShapeScorer.detect(img);
            backgrounds.merge(d.background(), 1, Integer::sum);
            if (!d.found()) continue;
            shapes.merge(d.shape(), 1, Integer::sum);
            colours.merge(d.colour(), 1, Integer::sum);
        }
        if (shapes.isEmpty()) {
            throw new JDiffusionException("the scorer sees no shape in any of the " + instances.size()
                    + " instance images; they should show one flat shape on a flat background, as `shapes` draws them");
        }
        Shape shape = mostCommon(shapes);
        Colour colour = mostCommon(colours);
        Colour background = mostCommon(backgrounds);
        int shapeOk = 0;
        int colourOk = 0;
        int backgroundOk = 0;
        for (BufferedImage img : generated) {
            Detection d = ShapeScorer.detect(img);
            if (d.shape() == shape) shapeOk++;
            if (d.colour() == colour) colourOk++;
            if (d.background() == background) backgroundOk++;
        }
        return new InstanceScore(shape, colour, background, generated.size(), shapeOk, colourOk, backgroundOk);
    }

    private static <K> K mostCommon(Map<K, Integer> counts) {
        return counts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
    }

    public double shapeRate() {
        return images == 0 ? 0 : (double) shapeMatches / images;
    }

    public double colourRate() {
        return images == 0 ? 0 : (double) colourMatches / images;
    }

    public double backgroundRate() {
        return images == 0 ? 0 : (double) backgroundMatches / images;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT,
                "subject %s %s on %s: shape %d/%d (%.1f%%), colour %d/%d (%.1f%%), background %d/%d (%.1f%%)",
                subjectColour.words().getFirst(), subjectShape.words().getFirst(), subjectBackground.words().getFirst(),
                shapeMatches, images, 100 * shapeRate(), colourMatches, images, 100 * colourRate(),
                backgroundMatches, images, 100 * backgroundRate());
    }
}
