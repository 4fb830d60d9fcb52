package jdiffusion.cli;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.training.shapes.Attribute;
import jdiffusion.training.shapes.Captions;
import jdiffusion.training.shapes.EvalReport;
import jdiffusion.training.shapes.ShapeScene;
import jdiffusion.training.shapes.ShapesDataset;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jdiffusion eval-tiny}: generates one image per held-out caption (scenes never seen in
 * training, the green triangles among them) and scores colour, background, shape and position
 * by image analysis, at each guidance scale asked for.
 */
@Command(name = "eval-tiny", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Score the tiny shapes model on held-out captions (accuracy per attribute and guidance).")
final class EvalTinyCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR", description = "Model folder (default: the shipped models/tiny-shapes).")
    String model;

    @Option(names = "--n", description = "Images per guidance scale (default: ${DEFAULT-VALUE}).")
    int n = 100;

    @Option(names = "--guidance", split = ",", description = "Guidance scales to compare (default: 1,7.5).")
    List<Double> guidance = List.of(1.0, 7.5);

    @Option(names = "--steps", description = "Denoising steps (default: ${DEFAULT-VALUE}).")
    int steps = 25;

    @Option(names = "--seed", description = "Seed of the first image; image i uses seed + i (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--split-seed", description = "Seed of the dataset split the model was trained on (default: ${DEFAULT-VALUE}).")
    long splitSeed;

    @Option(names = "--failures", description = "List the images that got an attribute wrong.")
    boolean failures;

    @Override
    public Integer call() {
        if (n < 1) throw new JDiffusionException("--n must be at least 1");
        List<ShapeScene> scenes = new ShapesDataset(splitSeed).evalScenes(n);
        String folder = model != null ? model : DefaultModel.locate();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(folder, PipelineOptions.defaults())) {
            StringBuilder summary = new StringBuilder(String.format(Locale.ROOT, "%-9s", "guidance"));
            for (Attribute a : Attribute.values()) summary.append(String.format(Locale.ROOT, "%12s", a.label()));
            summary.append(System.lineSeparator());
            for (double g : guidance) {
                long start = System.nanoTime();
                ProgressBar bar = new ProgressBar(System.err, "guidance " + g, scenes.size());
                int[] done = {0};
                EvalReport report = EvalReport.evaluate(scenes, prompt -> {
                    var request = GenerationRequest.builder(prompt).guidanceScale(g).steps(steps)
                            .seed(seed + done[0]).build();
                    var image = pipe.generate(request).images().getFirst();
                    bar.update(++done[0]);
                    return image;
                });
                bar.done();
                System.out.printf(Locale.ROOT, "%nguidance %s: %d images, %d steps, %.1f s%n%s", g, scenes.size(), steps,
                        (System.nanoTime() - start) / 1e9, report.table());
                if (failures) report.failures().forEach(f -> System.out.println("  " + f));
                summary.append(String.format(Locale.ROOT, "%-9s", g));
                for (Attribute a : Attribute.values()) {
                    summary.append(String.format(Locale.ROOT, "%11.1f%%", 100 * report.accuracy(a)));
                }
                summary.append(System.lineSeparator());
            }
            System.out.printf(Locale.ROOT, "%n%s", summary);
            System.out.println("prompts: " + Captions.canonical(scenes.getFirst()) + ", ...");
        }
        return 0;
    }
}
