package jdiffusion.training.dreambooth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.awt.image.BufferedImage;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.tools.shapes.Colour;
import jdiffusion.tools.shapes.InstanceScore;
import jdiffusion.tools.shapes.Jitter;
import jdiffusion.tools.shapes.Position;
import jdiffusion.tools.shapes.Shape;
import jdiffusion.tools.shapes.ShapeRenderer;
import jdiffusion.tools.shapes.ShapeScene;
import jdiffusion.tools.shapes.Size;
import org.junit.jupiter.api.Test;

/** The experiment's subject check: the subject is read from the instance images, then each image is compared to it. */
class InstanceScoreTest {
    private static BufferedImage draw(Shape shape, Colour colour, Position where) {
        return draw(shape, colour, Colour.BLUE, where);
    }

    private static BufferedImage draw(Shape shape, Colour colour, Colour background, Position where) {
        return ShapeRenderer.render(new ShapeScene(shape, colour, background, where, Size.LARGE), Jitter.NONE);
    }

    @Test
    void countsTheImagesThatShowTheInstancesShapeAndColour() {
        List<BufferedImage> instances = List.of(draw(Shape.STAR, Colour.YELLOW, Position.CENTRE),
                draw(Shape.STAR, Colour.YELLOW, Position.TOP_LEFT), draw(Shape.STAR, Colour.YELLOW, Position.BOTTOM_RIGHT));
        List<BufferedImage> generated = List.of(draw(Shape.STAR, Colour.YELLOW, Position.TOP_RIGHT),
                draw(Shape.STAR, Colour.RED, Position.CENTRE), draw(Shape.CIRCLE, Colour.YELLOW, Position.CENTRE),
                draw(Shape.SQUARE, Colour.WHITE, Colour.BLACK, Position.CENTRE));
        InstanceScore s = InstanceScore.of(instances, generated);
        assertEquals(Shape.STAR, s.subjectShape());
        assertEquals(Colour.YELLOW, s.subjectColour());
        assertEquals(4, s.images());
        assertEquals(2, s.shapeMatches());
        assertEquals(2, s.colourMatches());
        assertEquals(0.5, s.shapeRate());
        assertEquals(Colour.BLUE, s.subjectBackground());
        assertEquals(3, s.backgroundMatches());
    }

    @Test
    void blankInstanceImagesAreRefused() {
        BufferedImage blank = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        assertThrows(JDiffusionException.class, () -> InstanceScore.of(List.of(blank), List.of(blank)));
    }
}
