package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import jdiffusion.image.ImageGrid;
import jdiffusion.training.pixel.ClassConditionedEval;
import jdiffusion.training.pixel.FashionMnist;
import picocli.CommandLine.Command;
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
            description = "The classifier: read when it exists, else trained (two epochs) and written there.")
    Path classifier;

    @Option(names = "--samples-per-class", defaultValue = "1000", description = "Default: ${DEFAULT-VALUE}.")
    int perClass;

    @Option(names = "--steps", defaultValue = "40", description = "DDIM steps per sample (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--seed", defaultValue = "0", description = "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--grid", paramLabel = "FILE.png", description = "Where to write the per-class grid (8 samples a row).")
    Path grid;

    @Override
    public Integer call() {
        if (perClass < 1) throw new jdiffusion.JDiffusionException("--samples-per-class must be at least 1, got " + perClass);
        PrintWriter out = spec.commandLine().getOut();
        ProgressBar bar = new ProgressBar(System.err, "sampling", (long) perClass * FashionMnist.NUM_CLASSES);
        var report = ClassConditionedEval.run(model, data, classifier, perClass, steps, seed, bar::update);
        bar.done();
        out.printf(Locale.ROOT, "classifier test accuracy: %.1f %%%n", 100 * report.classifierTestAccuracy());
        for (int c = 0; c < FashionMnist.NUM_CLASSES; c++) {
            out.printf(Locale.ROOT, "class %d %-12s %5.1f %% of %d samples%n", c, FashionMnist.CLASS_NAMES[c],
                    100 * report.perClassAccuracy()[c], perClass);
        }
        out.printf(Locale.ROOT, "mean %.1f %% (DDIM %d steps)%n", 100 * report.meanAccuracy(), steps);
        if (grid != null) ImageGrid.writePng(grid, report.grid());
        return 0;
    }
}
