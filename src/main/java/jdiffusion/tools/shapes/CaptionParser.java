package jdiffusion.tools.shapes;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import jdiffusion.JDiffusionException;

/**
 * Reads a caption of the shapes grammar back into its attributes, so that the evaluation can score
 * an image against any prompt of the grammar, not only against scenes it keeps alongside. Word
 * spotting rather than a grammar: the background is the colour right before "background", the
 * shape colour is the other colour word, and the order of the rest does not matter.
 */
public final class CaptionParser {
    private CaptionParser() {}

    /** The attributes of {@code caption}; a caption outside the grammar gets an error naming what is missing. */
    public static ParsedCaption parse(String caption) {
        List<String> words = List.of(caption.toLowerCase(Locale.ROOT).replaceAll("[^a-z]+", " ").trim().split(" "));

        Shape shape = null;
        Size size = null;
        Colour background = null;
        List<Colour> colours = new ArrayList<>();
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            Shape s = find(Shape.values(), Shape::words, w);
            if (s != null) shape = only(shape, s, "shape", caption);
            Size z = find(Size.values(), Size::words, w);
            if (z != null) size = only(size, z, "size", caption);
            Colour c = find(Colour.values(), Colour::words, w);
            if (c == null) continue;
            if (i + 1 < words.size() && words.get(i + 1).equals("background")) {
                background = only(background, c, "background colour", caption);
            } else {
                colours.add(c);
            }
        }
        if (shape == null) throw missing("shape word", caption);
        if (background == null) throw missing("'<colour> background'", caption);
        if (colours.size() != 1) {
            throw new JDiffusionException("caption '" + caption + "' should name exactly one shape colour besides the"
                    + " background; it names " + colours);
        }
        return new ParsedCaption(shape, colours.getFirst(), background, position(words, caption), size);
    }

    /** "top left" / "upper left" / ... or "centre" / "center" / "middle", said exactly once. */
    private static Position position(List<String> words, String caption) {
        Position found = null;
        for (int i = 0; i < words.size(); i++) {
            String w = words.get(i);
            String next = i + 1 < words.size() ? words.get(i + 1) : "";
            for (Position p : Position.values()) {
                for (String phrase : p.phrases()) {
                    String[] parts = phrase.split(" ");
                    boolean hit = parts.length == 1 ? w.equals(parts[0]) : w.equals(parts[0]) && next.equals(parts[1]);
                    if (hit) found = only(found, p, "position", caption);
                }
            }
        }
        if (found == null) throw missing("position (top left, upper right, centre, ...)", caption);
        return found;
    }

    private static <E> E find(E[] values, Function<E, List<String>> words, String word) {
        for (E e : values) {
            if (words.apply(e).contains(word)) return e;
        }
        return null;
    }

    private static <T> T only(T previous, T found, String what, String caption) {
        if (previous != null && previous != found) {
            throw new JDiffusionException("caption '" + caption + "' names two different " + what + "s: "
                    + previous + " and " + found);
        }
        return found;
    }

    private static JDiffusionException missing(String what, String caption) {
        return new JDiffusionException("caption '" + caption + "' has no " + what
                + "; captions look like 'a small red circle in the top left on a blue background'");
    }
}
