package jdiffusion.tools.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;

class CaptionsTest {
    /** CLIP's pre-tokenizer pattern (letters runs, single digits, punctuation runs). */
    private static final Pattern CLIP_WORDS = Pattern.compile("[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+");

    private static final ShapeScene RED_CIRCLE =
            new ShapeScene(Shape.CIRCLE, Colour.RED, Colour.BLUE, Position.TOP_LEFT, Size.SMALL);

    @Test
    void theCanonicalCaptionReadsAsInTheIssue() {
        assertEquals("a small red circle in the top left on a blue background", Captions.canonical(RED_CIRCLE));
        assertEquals("a large orange square in the centre on a white background",
                Captions.canonical(new ShapeScene(Shape.SQUARE, Colour.ORANGE, Colour.WHITE, Position.CENTRE, Size.LARGE)));
        assertEquals("a small green triangle in the bottom right on an orange background",
                Captions.canonical(new ShapeScene(Shape.TRIANGLE, Colour.GREEN, Colour.ORANGE, Position.BOTTOM_RIGHT, Size.SMALL)));
    }

    @Test
    void everyCaptionOfEverySceneParsesBackToItsScene() {
        Random rng = new Random(7);
        int captions = 0;
        for (Shape shape : Shape.values()) {
            for (ShapeScene scene : ShapesDataset.scenes(shape)) {
                assertEquals(scene, CaptionParser.parse(Captions.canonical(scene)).scene());
                for (int i = 0; i < 10; i++) {
                    String c = Captions.random(scene, rng);
                    ParsedCaption p = CaptionParser.parse(c);
                    assertTrue(p.describes(scene), c + " -> " + p);
                    if (p.size() != null) assertEquals(scene, p.scene(), c);
                    captions++;
                }
            }
        }
        assertEquals(Shape.values().length * 900 * 10, captions);
    }

    @Test
    void captionsAreDeterministicForASeedAndVaried() {
        assertEquals(Captions.random(RED_CIRCLE, new Random(42)), Captions.random(RED_CIRCLE, new Random(42)));
        Set<String> seen = new HashSet<>();
        int noSize = 0;
        int n = 5000;
        for (int i = 0; i < n; i++) {
            String c = Captions.random(RED_CIRCLE, new Random(ShapesDataset.mix(1, i)));
            seen.add(c);
            if (CaptionParser.parse(c).size() == null) noSize++;
        }
        // Size (unsaid, small, little) x (circle, disc) x (top, upper) = 12 word choices, times
        // 3 prepositional forms in four orders and the bare phrase in the other two: 168.
        assertEquals(168, seen.size());
        assertTrue(Math.abs(noSize / (double) n - Captions.OMIT_SIZE) < 0.03, noSize + " of " + n + " omit the size");
        List<String> forms = List.of("a small red circle in the top left on a blue background",
                "on a blue background, a small red circle at the upper left",
                "a red circle, small, top left, blue background",
                "a blue background with a little red disc in the top left corner",
                "in the upper left there is a red circle on a blue background",
                "a small red circle against a blue background, top left");
        for (String form : forms) assertTrue(seen.contains(form), "never generated: " + form);
    }

    @Test
    void partialCaptionsSayOnlyWhatIsTrueAndReachTheBareClassNoun() {
        ShapeScene s = new ShapeScene(Shape.DIAMOND, Colour.ORANGE, Colour.WHITE, Position.BOTTOM_RIGHT, Size.LARGE);
        Set<String> seen = new HashSet<>();
        int partial = 0, n = 20000;
        for (int i = 0; i < n; i++) {
            String c = Captions.partial(s, new Random(ShapesDataset.mix(2, i)));
            seen.add(c);
            Set<String> words = new HashSet<>(List.of(c.split("[ ,]+")));
            // Every attribute word that appears is the scene's own: no other colour, shape, size or place.
            for (Colour colour : Colour.values()) {
                if (colour != s.colour() && colour != s.background()) {
                    for (String w : colour.words()) assertTrue(!words.contains(w), c);
                }
            }
            for (Shape other : Shape.values()) {
                if (other != s.shape()) for (String w : other.words()) assertTrue(!words.contains(w), c);
            }
            assertTrue(!words.contains("small") && !words.contains("little") && !words.contains("top")
                    && !words.contains("upper") && !words.contains("centre") && !words.contains("middle"), c);
            assertTrue(words.contains(Captions.HYPERNYM) || words.contains("diamond") || words.contains("rhombus"), c);
            if (c.contains("white")) assertTrue(c.endsWith("white background"), c);
            if (c.startsWith("a ")) assertTrue("aeiou".indexOf(c.charAt(2)) < 0, c);
            if (!Captions.training(s, new Random(ShapesDataset.mix(3, i))).contains("background")) partial++;
        }
        assertTrue(seen.contains("a shape"), "the bare class noun is a training caption");
        assertTrue(seen.contains("an orange shape"));
        assertTrue(seen.contains("a large orange diamond in the bottom right corner on a white background")
                || seen.contains("a large orange diamond at the bottom right on a white background"));
        // training() picks partial captions PARTIAL of the time; every full one names the background, half the partial ones do
        assertTrue(Math.abs(partial / (double) n - Captions.PARTIAL / 2) < 0.01, partial + " of " + n);
    }

    @Test
    void articlesAgreeWithTheNextWord() {
        ShapeScene s = new ShapeScene(Shape.CIRCLE, Colour.ORANGE, Colour.BLUE, Position.CENTRE, Size.SMALL);
        for (int i = 0; i < 500; i++) {
            String c = Captions.random(s, new Random(i));
            assertTrue(!c.contains("a orange") && !c.contains("an small") && !c.contains("an blue"), c);
        }
    }

    @Test
    void everyCaptionWordIsAVocabularyWord() {
        Set<String> words = Captions.words();
        Random rng = new Random(3);
        for (Shape shape : Shape.values()) {
            for (ShapeScene scene : ShapesDataset.scenes(shape)) {
                for (String c : List.of(Captions.canonical(scene), Captions.random(scene, rng), Captions.partial(scene, rng))) {
                    Matcher m = CLIP_WORDS.matcher(c);
                    while (m.find()) assertTrue(words.contains(m.group()), "'" + m.group() + "' of '" + c + "'");
                }
            }
        }
    }

    @Test
    void theParserSaysWhatIsMissingOrAmbiguous() {
        var e = assertThrows(JDiffusionException.class, () -> CaptionParser.parse("a small red circle in the top left"));
        assertTrue(e.getMessage().contains("background"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> CaptionParser.parse("a red blob in the top left on a blue background"));
        assertTrue(e.getMessage().contains("shape"), e.getMessage());
        e = assertThrows(JDiffusionException.class,
                () -> CaptionParser.parse("a red circle and a square in the centre on a blue background"));
        assertTrue(e.getMessage().contains("two different shape"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> CaptionParser.parse("a red circle on a blue background"));
        assertTrue(e.getMessage().contains("position"), e.getMessage());
        ParsedCaption p = CaptionParser.parse("On a BLACK background, a violet plus at the lower right.");
        assertEquals(new ParsedCaption(Shape.CROSS, Colour.PURPLE, Colour.BLACK, Position.BOTTOM_RIGHT, null), p);
        assertNull(p.size());
        assertThrows(IllegalStateException.class, p::scene);
        assertNotEquals(p, CaptionParser.parse("a violet plus at the lower right on a white background"));
    }
}
