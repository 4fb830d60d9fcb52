package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.io.AtomicFiles;
import jdiffusion.io.ModelFolder;
import jdiffusion.pipelines.DepthEstimation;
import jdiffusion.pipelines.DepthMap;
import jdiffusion.pipelines.PipelineOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code jdiffusion depth IMG}: a depth2img model's (or any transformers DPT's) depth estimate as a 16-bit PNG. */
@Command(name = "depth", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Estimate an image's depth (DPT) and save it as a 16-bit grey PNG (white = near).")
final class DepthCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "IMAGE", description = "The image (PNG or JPEG).")
    Path image;

    @Option(names = "--model", paramLabel = "DIR|ORG/NAME", description = "A depth2img model (its depth_estimator/ and feature_extractor/).")
    String model;

    @Option(names = "--depth-estimator", paramLabel = "DIR",
            description = "A transformers DPT folder (config.json, model.safetensors, preprocessor_config.json), instead of --model.")
    Path depthEstimator;

    @Option(names = "--out", paramLabel = "FILE.png", description = "Output PNG (default: depth-<image name>.png).")
    Path out;

    @Option(names = "--dtype", description = "fp32 (default), bf16 or fp16.")
    String dtype = "fp32";

    @Override
    public Integer call() {
        if ((model == null) == (depthEstimator == null)) {
            throw new JDiffusionException("give --model (a depth2img model) or --depth-estimator (a DPT folder)");
        }
        Path target = out != null ? out : Path.of("depth-" + image.getFileName().toString().replaceFirst("\\.[^.]*$", "") + ".png");
        if (!target.toString().toLowerCase(Locale.ROOT).endsWith(".png")) {
            throw new JDiffusionException("--out must name a .png file (a 16-bit PNG), not " + target);
        }
        var picture = Images.read(image);
        PipelineOptions options = PipelineOptions.of(dtype, "cpu", null);
        long start = System.nanoTime();
        DepthEstimation depth;
        if (depthEstimator != null) {
            depth = DepthEstimation.load(depthEstimator, null, options);
        } else {
            ModelFolder folder = ModelFolder.resolve(model);
            depth = DepthEstimation.load(folder.component("depth_estimator"),
                    folder.has("feature_extractor") ? folder.component("feature_extractor").resolve("preprocessor_config.json") : null,
                    options);
        }
        try (depth) {
            DepthMap map = depth.estimateAtImageSize(picture);
            var png = DepthEstimation.toGray16(map);
            AtomicFiles.write(target, tmp -> {
                if (!ImageIO.write(png, "png", tmp.toFile())) throw new java.io.IOException("no PNG writer for 16-bit grey");
            });
        }
        PrintWriter w = spec.commandLine().getOut();
        w.printf(Locale.ROOT, "depth %dx%d, %.1f s -> %s%n", picture.getWidth(), picture.getHeight(),
                (System.nanoTime() - start) / 1e9, target);
        w.flush();
        return 0;
    }
}
