package jdiffusion.tools.shapes;

import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.random.RandomGenerator;

/**
 * Captions for scenes: a canonical one for evaluation ("a small red circle in the top left on a
 * blue background") and random ones for training, with synonyms, six word orders and the size
 * word sometimes left out, so that the text encoder has to read the words rather than match a
 * fixed string. Every caption names the background colour as the word before "background", which
 * is what {@link CaptionParser} relies on.
 */
public final class Captions {
    /** How often a training caption leaves the size unsaid (the model then sees both sizes for it). */
    static final double OMIT_SIZE = 0.2;

    /** The words the templates add around the attribute words. */
    private static final List<String> GLUE = List.of(
            "a", "an", "the", "in", "at", "on", "with", "against", "there", "is", "corner", "background");

    private Captions() {}

    /** The one caption the evaluation prompts with: canonical words, size always said. */
    public static String canonical(ShapeScene s) {
        String shape = s.colour().words().getFirst() + " " + s.shape().words().getFirst();
        return article(s.size().words().getFirst()) + " " + s.size().words().getFirst() + " " + shape
                + " in the " + s.position().phrases().getFirst()
                + " on " + article(s.background().words().getFirst()) + " " + s.background().words().getFirst()
                + " background";
    }

    /**
     * How often a training caption is {@link #partial}: it then names a random subset of the
     * attributes, and half the time says "shape" instead of the shape's own word.
     */
    static final double PARTIAL = 0.15;
    /** The class noun of every shape family: what DreamBooth's class prompt ("a shape") names. */
    public static final String HYPERNYM = "shape";

    /**
     * A training caption for {@code s}: {@link #random} or, {@link #PARTIAL} of the time,
     * {@link #partial}. Why partial captions: the model should know "shape" as the class of all its
     * subjects and draw the whole distribution for "a shape", as SD draws dogs for "a dog"; that is
     * what DreamBooth's prior preservation samples its class images from.
     */
    public static String training(ShapeScene s, RandomGenerator rng) {
        return rng.nextDouble() < PARTIAL ? partial(s, rng) : random(s, rng);
    }

    /**
     * "a red shape", "a small circle on a blue background", "a shape in the top left": each of size,
     * colour, position and background said with probability 1/2, the shape's own word or
     * {@link #HYPERNYM} with probability 1/2 each; whatever is said is true of {@code s}.
     */
    public static String partial(ShapeScene s, RandomGenerator rng) {
        String size = rng.nextBoolean() ? pick(s.size().words(), rng) : null;
        String colour = rng.nextBoolean() ? pick(s.colour().words(), rng) : null;
        String shape = rng.nextBoolean() ? pick(s.shape().words(), rng) : HYPERNYM;
        String where = rng.nextBoolean() ? placed(s.position(), pick(s.position().phrases(), rng), rng) : null;
        String bg = rng.nextBoolean() ? pick(s.background().words(), rng) : null;
        String thing = (size == null ? "" : size + " ") + (colour == null ? "" : colour + " ") + shape;
        return article(thing) + " " + thing + (where == null ? "" : " " + where)
                + (bg == null ? "" : " on " + article(bg) + " " + bg + " background");
    }

    /** A random caption for {@code s}; the same generator state gives the same caption. */
    public static String random(ShapeScene s, RandomGenerator rng) {
        // Draw every choice up front in a fixed order, so the template does not change what is drawn.
        String size = rng.nextDouble() < OMIT_SIZE ? null : pick(s.size().words(), rng);
        String colour = pick(s.colour().words(), rng);
        String shape = pick(s.shape().words(), rng);
        String bg = pick(s.background().words(), rng);
        String where = pick(s.position().phrases(), rng);
        String placed = placed(s.position(), where, rng);
        int template = rng.nextInt(6);

        String thing = (size == null ? "" : size + " ") + colour + " " + shape;
        String aThing = article(thing) + " " + thing;
        String aBg = article(bg) + " " + bg + " background";
        return switch (template) {
            case 0 -> aThing + " " + placed + " on " + aBg;
            case 1 -> "on " + aBg + ", " + aThing + " " + placed;
            // The list form: "a red circle, small, top left, blue background".
            case 2 -> article(colour) + " " + colour + " " + shape + ", " + (size == null ? "" : size + ", ")
                    + where + ", " + bg + " background";
            case 3 -> aBg + " with " + aThing + " " + placed;
            case 4 -> placed + " there is " + aThing + " on " + aBg;
            default -> aThing + " against " + aBg + ", " + where;
        };
    }

    /** "in the top left", "at the upper left", "in the top left corner", "in the middle", ... */
    private static String placed(Position p, String where, RandomGenerator rng) {
        int form = rng.nextInt(p.isCorner() ? 3 : 2);
        return switch (form) {
            case 0 -> "in the " + where;
            case 1 -> "at the " + where;
            default -> "in the " + where + " corner";
        };
    }

    /** Every word a caption can contain, and the comma: the tiny vocabulary makes each one token. */
    public static SortedSet<String> words() {
        SortedSet<String> out = new TreeSet<>(GLUE);
        out.add(",");
        out.add(HYPERNYM);
        for (Shape s : Shape.values()) out.addAll(s.words());
        for (Colour c : Colour.values()) out.addAll(c.words());
        for (Size s : Size.values()) out.addAll(s.words());
        for (Position p : Position.values()) {
            for (String phrase : p.phrases()) out.addAll(List.of(phrase.split(" ")));
        }
        return out;
    }

    private static String article(String nextWords) {
        return "aeiou".indexOf(nextWords.charAt(0)) >= 0 ? "an" : "a";
    }

    private static String pick(List<String> options, RandomGenerator rng) {
        return options.get(rng.nextInt(options.size()));
    }
}
