package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import jdiffusion.JDiffusionException;
import jdiffusion.image.ImageGrid;
import jdiffusion.training.pixel.ClassConditionedEval;
import jdiffusion.training.pixel.FashionMnist;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion eval-class-conditioned}: per-class accuracy of a Fashion-MNIST model's samples. */
@Command(name = "eval-class-conditioned", mixinStandardHelpOptions = true,
        description = "Score a class-conditioned Fashion-MNIST model: a small classifier trained on the real training set "
                + "labels N DDIM samples of each class; prints its test accuracy, the per-class accuracy of the samples, and "
                + "writes a grid with one row per class.")
final class EvalClassConditionedCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The DDPMPipeline folder train-class-conditioned wrote.")
    Path model;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).")
    Path data = FashionMnist.DEBIAN_DIR;

    @Option(names = "--classifier", required = true, paramLabel = "FILE.safetensors",
            description = "The classifier: read when it exists, else trained on the real training set (ten epochs, "
                    + "a few minutes) and written there.")
    Path classifier;

    @Option(names = "--classes", split = ",", paramLabel = "N[,N...]", description = "The classes to sample (default: all ten).")
    int[] classes = IntStream.range(0, FashionMnist.NUM_CLASSES).toArray();

    @Option(names = "--samples-per-class", defaultValue = "1000", description = "Default: ${DEFAULT-VALUE}.")
    int perClass;

    @Option(names = "--sampler", defaultValue = "DDIM", description = "DDIM (eta 0) or DDPM (ancestral, the notebook's, "
            + "usually with --steps 1000); default: ${DEFAULT-VALUE}.")
    ClassConditionedEval.Sampler sampler;

    @Option(names = "--steps", defaultValue = "40", description = "Sampling steps per sample (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--guidance-scale", defaultValue = "1", description = "Classifier-free guidance, for a model trained "
            + "with --class-dropout (two UNet passes per step); 1 = off (default: ${DEFAULT-VALUE}).")
    double guidanceScale;

    @Mixin
    TrainingDTypeOption dtype; // --dtype fp32|bf16: bf16 runs the UNet under CPU autocast, as it was trained

    @Option(names = "--seed", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--grid", paramLabel = "FILE.png", description = "Where to write the grid (one row of 8 samples per class).")
    Path grid;

    @Override
    public Integer call() {
        if (perClass < 1 || perClass > 100_000) {
            throw new JDiffusionException("--samples-per-class must be 1 to 100000, got " + perClass);
        }
        if (steps < 1 || steps > 1000) throw new JDiffusionException("--steps must be 1 to 1000, got " + steps);
        if (!(guidanceScale >= 0 && guidanceScale <= 100)) {
            throw new JDiffusionException("--guidance-scale must be 0 to 100, got " + guidanceScale);
        }
        boolean bf16 = dtype.bf16();
        if (classes.length == 0) throw new JDiffusionException("--classes names no class");
        for (int c : classes) FashionMnist.requireClass(c, "--classes");
        if (grid != null) WritableFolder.require("--grid", grid.toAbsolutePath().getParent());
        PrintWriter out = spec.commandLine().getOut();
        ProgressBar bar = new ProgressBar(System.err, "sampling", (long) perClass * classes.length);
        var report = ClassConditionedEval.run(model, data, classifier, classes, perClass, sampler, steps, guidanceScale,
                seed, bf16, bar::update);
        bar.done();
        out.printf(Locale.ROOT, "classifier test accuracy: %.1f %%%n", 100 * report.classifierTestAccuracy());
        for (int i = 0; i < classes.length; i++) {
            out.printf(Locale.ROOT, "class %d %-12s %5.1f %% of %d samples%s%n", classes[i], FashionMnist.CLASS_NAMES[classes[i]],
                    100 * report.accuracy(i), perClass, misses(report, i));
        }
        out.printf(Locale.ROOT, "mean %.1f %% (%s %d steps, %s%s)%n", 100 * report.meanAccuracy(), sampler, steps,
                bf16 ? "bf16" : "fp32", guidanceScale == 1 ? "" : String.format(Locale.ROOT, ", guidance scale %s", guidanceScale));
        if (grid != null) ImageGrid.writePng(grid, report.grid());
        return 0;
    }

    /** What the classifier called the rest, most frequent first, e.g. " (Bag 33.0 %, Shirt 15.0 %)". */
    private static String misses(ClassConditionedEval.Report report, int i) {
        List<String> parts = IntStream.range(0, FashionMnist.NUM_CLASSES)
                .filter(p -> p != report.classes()[i] && report.confusion()[i][p] > 0)
                .boxed()
                .sorted((a, b) -> Integer.compare(report.confusion()[i][b], report.confusion()[i][a]))
                .limit(3)
                .map(p -> String.format(Locale.ROOT, "%s %.1f %%", FashionMnist.CLASS_NAMES[p], 100 * report.share(i, p)))
                .toList();
        return parts.isEmpty() ? "" : " (" + String.join(", ", parts) + ")";
    }
}
