package jdiffusion.tools.shapes;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/** Accuracy per attribute over a set of scored images, printed as a table against the targets. */
public final class EvalReport {
    private final List<ShapeScore> scores;

    public EvalReport(List<ShapeScore> scores) {
        this.scores = List.copyOf(scores);
    }

    /**
     * Asks {@code generate} for one image per scene, prompted with the scene's canonical caption,
     * and scores each against its scene: the whole of eval-tiny but the model.
     */
    public static EvalReport evaluate(List<ShapeScene> scenes, Function<String, BufferedImage> generate) {
        List<ShapeScore> scores = new ArrayList<>(scenes.size());
        for (ShapeScene scene : scenes) scores.add(ShapeScorer.score(generate.apply(Captions.canonical(scene)), scene));
        return new EvalReport(scores);
    }

    public List<ShapeScore> scores() {
        return scores;
    }

    public int size() {
        return scores.size();
    }

    public int correct(Attribute attribute) {
        int n = 0;
        for (ShapeScore s : scores) {
            if (s.correct(attribute)) n++;
        }
        return n;
    }

    /** Share of images with {@code attribute} right (0 for an empty report). */
    public double accuracy(Attribute attribute) {
        return scores.isEmpty() ? 0 : (double) correct(attribute) / scores.size();
    }

    /** True when every attribute with a target reaches it. */
    public boolean meetsTargets() {
        for (Attribute a : Attribute.values()) {
            if (a.target().isPresent() && accuracy(a) < a.target().getAsDouble()) return false;
        }
        return true;
    }

    /** The images that got something wrong, for a closer look. */
    public List<ShapeScore> failures() {
        List<ShapeScore> out = new ArrayList<>();
        for (ShapeScore s : scores) {
            if (!s.allCorrect()) out.add(s);
        }
        return out;
    }

    /** How often each expected shape family was seen as each family (rows expected, columns seen). */
    public String shapeConfusion() {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-10s", "expected"));
        for (Shape s : Shape.values()) sb.append(String.format(Locale.ROOT, "%9s", s.words().getFirst()));
        sb.append(String.format(Locale.ROOT, "%9s%n", "none"));
        for (Shape row : Shape.values()) {
            int[] counts = new int[Shape.values().length + 1];
            int total = 0;
            for (ShapeScore sc : scores) {
                if (sc.expected().shape() != row) continue;
                Shape seen = sc.detected().shape();
                counts[seen == null ? counts.length - 1 : seen.ordinal()]++;
                total++;
            }
            if (total == 0) continue;
            sb.append(String.format(Locale.ROOT, "%-10s", row.words().getFirst()));
            for (int c : counts) sb.append(String.format(Locale.ROOT, "%9d", c));
            sb.append(System.lineSeparator());
        }
        return sb.toString();
    }

    /** The per-attribute table the eval command prints. */
    public String table() {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-11s %9s %9s   %s%n",
                "attribute", "correct", "accuracy", "target"));
        for (Attribute a : Attribute.values()) {
            String target = a.target().isPresent()
                    ? String.format(Locale.ROOT, ">= %.0f%% %s", 100 * a.target().getAsDouble(),
                            accuracy(a) >= a.target().getAsDouble() ? "ok" : "MISSED")
                    : "-";
            sb.append(String.format(Locale.ROOT, "%-11s %4d/%-4d %8.1f%%   %s%n",
                    a.label(), correct(a), scores.size(), 100 * accuracy(a), target));
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return table();
    }
}
