package jdiffusion.tools.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

class ShapeScorerTest {
    /** Every shape x every colour (on two backgrounds) x every position x both sizes: 1,200 hand-drawn images. */
    private static List<ShapeScene> scenes() {
        List<ShapeScene> out = new ArrayList<>();
        Colour[] colours = Colour.values();
        for (Shape shape : Shape.values()) {
            for (int c = 0; c < colours.length; c++) {
                for (int b : new int[] {1, 4}) {
                    Colour bg = colours[(c + b + shape.ordinal()) % colours.length];
                    for (Position p : Position.values()) {
                        for (Size s : Size.values()) out.add(new ShapeScene(shape, colours[c], bg, p, s));
                    }
                }
            }
        }
        return out;
    }

    private static EvalReport evaluate(String condition, BiFunction<ShapeScene, Integer, BufferedImage> draw) {
        List<ShapeScore> scores = new ArrayList<>();
        List<ShapeScene> scenes = scenes();
        for (int i = 0; i < scenes.size(); i++) scores.add(ShapeScorer.score(draw.apply(scenes.get(i), i), scenes.get(i)));
        EvalReport report = new EvalReport(scores);
        System.out.println("== " + condition + " (" + report.size() + " hand-drawn images)");
        System.out.print(report.table());
        System.out.print(report.shapeConfusion());
        report.failures().stream().limit(5).forEach(f -> System.out.println("  " + f));
        return report;
    }

    private static void assertAccuracy(EvalReport report, double min) {
        for (Attribute a : Attribute.values()) {
            assertTrue(report.accuracy(a) >= min, a.label() + " accuracy " + report.accuracy(a) + " < " + min);
        }
    }

    @Test
    void cleanHandDrawnImagesScoreAlmostPerfectly() {
        assertAccuracy(evaluate("clean, 64x64", (s, i) -> HandDrawn.draw(s, i, 64)), 0.95);
    }

    @Test
    void largerCanvasesAreScoredTheSame() {
        assertAccuracy(evaluate("clean, 256x256", (s, i) -> HandDrawn.draw(s, i, 256)), 0.95);
    }

    @Test
    void blurredImagesStillScoreWell() {
        assertAccuracy(evaluate("Gaussian blur sigma 1 px", (s, i) -> HandDrawn.blur(HandDrawn.draw(s, i, 64), 1.0)), 0.90);
    }

    @Test
    void noisyImagesStillScoreWell() {
        assertAccuracy(evaluate("Gaussian noise sigma 20", (s, i) -> HandDrawn.noise(HandDrawn.draw(s, i, 64), 20, i)), 0.90);
    }

    @Test
    void imagesThatLostDetailThroughALowerResolutionStillScoreWell() {
        // What a VAE with a coarse latent does to edges: down to 32x32 and back up, smoothly.
        assertAccuracy(evaluate("down to 32x32 and back",
                (s, i) -> jdiffusion.image.Images.fit(jdiffusion.image.Images.fit(HandDrawn.draw(s, i, 64), 32, 32,
                        jdiffusion.image.Images.ResizeMode.RESIZE), 64, 64, jdiffusion.image.Images.ResizeMode.RESIZE)), 0.90);
    }

    @Test
    void blurredAndNoisyImagesAreReported() {
        EvalReport r = evaluate("blur sigma 1.5 then noise sigma 25",
                (s, i) -> HandDrawn.noise(HandDrawn.blur(HandDrawn.draw(s, i, 64), 1.5), 25, i));
        assertTrue(r.accuracy(Attribute.BACKGROUND) > 0.9 && r.accuracy(Attribute.COLOUR) > 0.9, r.table());
    }

    @Test
    void theDatasetsOwnRenderingsScorePerfectly() {
        List<ShapeScore> scores = new ArrayList<>();
        for (ShapeScene s : scenes()) scores.add(ShapeScorer.score(ShapesDataset.sample(s, s.hashCode()).image(), s));
        EvalReport r = new EvalReport(scores);
        assertEquals(List.of(), r.failures(), r.table());
    }

    @Test
    void aPlainImageShowsNoShape() {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = img.createGraphics();
        g.setColor(new java.awt.Color(Colour.BLUE.rgb()));
        g.fillRect(0, 0, 64, 64);
        g.dispose();
        Detection d = ShapeScorer.detect(img);
        assertFalse(d.found());
        assertEquals(Colour.BLUE, d.background());
        assertNull(d.shape());
        ShapeScore score = ShapeScorer.score(img, new ShapeScene(Shape.CIRCLE, Colour.RED, Colour.BLUE, Position.CENTRE, Size.SMALL));
        assertTrue(score.correct(Attribute.BACKGROUND));
        assertFalse(score.correct(Attribute.SHAPE) || score.correct(Attribute.COLOUR) || score.correct(Attribute.POSITION));
    }

    @Test
    void wrongExpectationsAreMarkedWrong() {
        ShapeScene drawn = new ShapeScene(Shape.TRIANGLE, Colour.GREEN, Colour.WHITE, Position.TOP_LEFT, Size.LARGE);
        ShapeScore s = ShapeScorer.score(HandDrawn.draw(drawn, 0, 64),
                "a small yellow square in the bottom right on a white background");
        assertTrue(s.correct(Attribute.BACKGROUND));
        for (Attribute a : List.of(Attribute.COLOUR, Attribute.SHAPE, Attribute.POSITION, Attribute.SIZE)) {
            assertFalse(s.correct(a), a.label());
        }
        assertEquals(Colour.GREEN, s.detected().colour());
        assertEquals(Shape.TRIANGLE, s.detected().shape());
        assertEquals(Position.TOP_LEFT, s.detected().position());
        assertEquals(Size.LARGE, s.detected().size());
    }
}
