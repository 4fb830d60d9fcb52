package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.image.PngWriter;
import jdiffusion.training.pixel.FashionMnist;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion fashion-mnist-images}: Fashion-MNIST images as PNG files, e.g. one class of the
 * test set as the new data a class-conditioned model is fine-tuned on ({@code finetune-ddpm --data}).
 */
@Command(name = "fashion-mnist-images", mixinStandardHelpOptions = true,
        description = "Write Fashion-MNIST images (all, or one class) as 28x28 greyscale PNGs, NNNNN.png in the order of the IDX file.",
        footer = {"", "Example (the bags of the test set, to fine-tune the trouser class on them):",
                "  jdiffusion fashion-mnist-images --class 8 --out bags",
                "  jdiffusion finetune-ddpm --model models/fashion-mnist --class-label 1 --data bags --resolution 28 --out trousers-to-bags"})
final class FashionMnistImagesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).")
    Path data = FashionMnist.DEBIAN_DIR;

    @Option(names = "--split", defaultValue = "test", description = "train or test (default: ${DEFAULT-VALUE}).")
    String split;

    @Option(names = "--class", paramLabel = "N", description = "Only the images of class N (0-9; default: every class).")
    Integer label;

    @Option(names = "--limit", defaultValue = "0", description = "At most N images, 0 = all (default: ${DEFAULT-VALUE}).")
    int limit;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The folder to write the PNGs into.")
    Path out;

    @Override
    public Integer call() {
        if (!split.equals("train") && !split.equals("test")) throw new JDiffusionException("--split must be train or test, got " + split);
        if (label != null) FashionMnist.requireClass(label, "--class");
        if (limit < 0) throw new JDiffusionException("--limit must be 0 or more, got " + limit);
        WritableFolder.require("--out", out);
        FashionMnist set = FashionMnist.load(data, split.equals("train"));
        int written = 0;
        for (int i = 0; i < set.count() && (limit == 0 || written < limit); i++) {
            if (label != null && set.label(i) != label) continue;
            PngWriter.write(out.resolve(String.format(Locale.ROOT, "%05d.png", i)), set.image(i), "label",
                    FashionMnist.CLASS_NAMES[set.label(i)]);
            written++;
        }
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.printf(Locale.ROOT, "%d images%s of the %s set in %s%n", written,
                label == null ? "" : " of class " + label + " (" + FashionMnist.CLASS_NAMES[label] + ")", split, out);
        stdout.flush();
        return 0;
    }
}
