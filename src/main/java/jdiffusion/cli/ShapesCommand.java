package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.image.PngWriter;
import jdiffusion.tools.shapes.Captions;
import jdiffusion.tools.shapes.Colour;
import jdiffusion.tools.shapes.Jitter;
import jdiffusion.tools.shapes.Position;
import jdiffusion.tools.shapes.Shape;
import jdiffusion.tools.shapes.ShapeRenderer;
import jdiffusion.tools.shapes.ShapeScene;
import jdiffusion.tools.shapes.Size;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion shapes}: renders images of the procedural shapes, e.g. DreamBooth's instance
 * images: one subject (a family in one colour and size) at each of the five positions, then on
 * further backgrounds. With {@code --fixed-style} every image is drawn exactly at its anchor,
 * upright and at nominal size ({@link Jitter#NONE}); otherwise with the training set's jitter.
 */
@Command(name = "shapes", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Render procedural shape images (e.g. DreamBooth instance images of the held-out star).")
final class ShapesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--family", description = "Shape family: circle, square, triangle, diamond, cross, star (default: ${DEFAULT-VALUE}).")
    String family = "star";

    @Option(names = "--num-images", description = "Images (default: ${DEFAULT-VALUE}).")
    int n = 5;

    @Option(names = "--n", hidden = true, description = "Old spelling of --num-images.")
    void oldN(int value) {
        n = value;
    }

    @Option(names = "--colour", description = "Colour of the shape (default: ${DEFAULT-VALUE}).")
    String colour = "yellow";

    @Option(names = "--background", description = "Background of the first five (default: ${DEFAULT-VALUE}).")
    String background = "blue";

    @Option(names = "--size", description = "small or large (default: ${DEFAULT-VALUE}).")
    String size = "large";

    @Option(names = "--fixed-style", description = "No jitter: every image drawn exactly at its anchor.")
    boolean fixedStyle;

    @Option(names = "--seed", description = "Seed of the jitter without --fixed-style (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Folder to write NAME-I.png into.")
    Path out;

    @Override
    public Integer call() {
        if (n < 1 || n > 10_000) throw new JDiffusionException("--num-images must be between 1 and 10000, got " + n);
        Shape shape = parse("--family", family, Shape.values(), Shape::words);
        Colour fg = parse("--colour", colour, Colour.values(), Colour::words);
        Colour bg = parse("--background", background, Colour.values(), Colour::words);
        Size sz = parse("--size", size, Size.values(), Size::words);
        if (fg == bg) {
            throw new JDiffusionException("--colour and --background are both " + colour + ": the shape would be invisible");
        }
        PrintWriter stdout = spec.commandLine().getOut();
        List<ShapeScene> scenes = scenes(shape, fg, bg, sz, n);
        Random rng = new Random(seed);
        for (int i = 0; i < scenes.size(); i++) {
            ShapeScene scene = scenes.get(i);
            Jitter jitter = fixedStyle ? Jitter.NONE : Jitter.random(rng);
            String name = String.format(Locale.ROOT, "%s-%02d.png", shape.words().getFirst(), i);
            PngWriter.write(out.resolve(name), ShapeRenderer.render(scene, jitter), "caption", Captions.canonical(scene));
            stdout.println(out.resolve(name) + ": " + Captions.canonical(scene));
        }
        stdout.flush();
        return 0;
    }

    /** The value whose words include {@code text} (case-insensitive). */
    private static <E> E parse(String option, String text, E[] values, java.util.function.Function<E, List<String>> words) {
        for (E v : values) {
            if (words.apply(v).contains(text.toLowerCase(Locale.ROOT))) return v;
        }
        List<String> all = new ArrayList<>();
        for (E v : values) all.add(words.apply(v).getFirst());
        throw new JDiffusionException(option + " " + text + " is not one of " + all);
    }

    /** The five positions on {@code background}, then on each other colour in turn (never the shape's own). */
    static List<ShapeScene> scenes(Shape family, Colour colour, Colour background, Size size, int n) {
        List<Colour> backgrounds = new ArrayList<>(List.of(background));
        for (Colour c : Colour.values()) if (c != background && c != colour) backgrounds.add(c);
        Position[] positions = Position.values();
        List<ShapeScene> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Colour bg = backgrounds.get(i / positions.length % backgrounds.size());
            out.add(new ShapeScene(family, colour, bg, positions[i % positions.length], size));
        }
        return out;
    }
}
