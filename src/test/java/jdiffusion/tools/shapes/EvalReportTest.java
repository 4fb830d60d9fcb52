package jdiffusion.tools.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EvalReportTest {
    private static final ShapeScene ASKED =
            new ShapeScene(Shape.TRIANGLE, Colour.GREEN, Colour.BLUE, Position.TOP_LEFT, Size.SMALL);

    private static ShapeScore seen(Colour colour, Shape shape, Position position) {
        return new ShapeScore(ASKED, new Detection(Colour.BLUE, colour, shape, position, Size.SMALL, null));
    }

    @Test
    void accuracyIsCountedPerAttributeAgainstTheTargets() {
        List<ShapeScore> scores = new ArrayList<>();
        for (int i = 0; i < 8; i++) scores.add(seen(Colour.GREEN, Shape.TRIANGLE, Position.TOP_LEFT));
        scores.add(seen(Colour.GREEN, Shape.SQUARE, Position.TOP_LEFT));
        scores.add(seen(Colour.YELLOW, Shape.TRIANGLE, Position.CENTRE));
        EvalReport r = new EvalReport(scores);
        assertEquals(0.9, r.accuracy(Attribute.COLOUR), 1e-12);
        assertEquals(1.0, r.accuracy(Attribute.BACKGROUND), 1e-12);
        assertEquals(0.9, r.accuracy(Attribute.SHAPE), 1e-12);
        assertEquals(0.9, r.accuracy(Attribute.POSITION), 1e-12);
        assertTrue(r.meetsTargets());
        assertEquals(2, r.failures().size());
        String table = r.table();
        assertTrue(table.contains("colour         9/10       90.0%   >= 90% ok"), table);
        assertTrue(table.contains("size          10/10      100.0%   -"), table);
        assertTrue(r.shapeConfusion().contains("triangle          0        1        9"), r.shapeConfusion());

        scores.add(seen(Colour.YELLOW, Shape.TRIANGLE, Position.TOP_LEFT));
        EvalReport worse = new EvalReport(scores);
        assertFalse(worse.meetsTargets());
        assertTrue(worse.table().contains("MISSED"), worse.table());
    }

    @Test
    void evaluatePromptsWithCanonicalCaptionsAndScoresAgainstTheirScenes() {
        List<ShapeScene> scenes = new ShapesDataset(3).evalScenes(60);
        // A perfect "model": parse the prompt and draw it.
        EvalReport perfect = EvalReport.evaluate(scenes,
                caption -> ShapeRenderer.render(CaptionParser.parse(caption).scene(), Jitter.NONE));
        assertEquals(60, perfect.size());
        assertEquals(List.of(), perfect.failures());
        // A model that ignores colour words: draws everything white on black.
        EvalReport colourBlind = EvalReport.evaluate(scenes, caption -> {
            ParsedCaption p = CaptionParser.parse(caption);
            return ShapeRenderer.render(new ShapeScene(p.shape(), Colour.WHITE, Colour.BLACK, p.position(), p.size()),
                    Jitter.NONE);
        });
        assertEquals(1.0, colourBlind.accuracy(Attribute.SHAPE));
        assertTrue(colourBlind.accuracy(Attribute.COLOUR) < 0.2 && colourBlind.accuracy(Attribute.BACKGROUND) < 0.2);
        assertFalse(colourBlind.meetsTargets());
    }

    @Test
    void anEmptyImageCountsAsWrongForEverythingButTheBackground() {
        EvalReport r = new EvalReport(List.of(new ShapeScore(ASKED, Detection.empty(Colour.BLUE))));
        assertEquals(1.0, r.accuracy(Attribute.BACKGROUND));
        for (Attribute a : List.of(Attribute.COLOUR, Attribute.SHAPE, Attribute.POSITION, Attribute.SIZE)) {
            assertEquals(0.0, r.accuracy(a), a.label());
        }
        assertTrue(r.shapeConfusion().contains("triangle          0        0        0        0        0        0        1"),
                r.shapeConfusion());
    }
}
