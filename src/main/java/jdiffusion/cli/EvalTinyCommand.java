package jdiffusion.cli;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.lora.LoRASpec;
import jdiffusion.models.unet.DeepCache;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tools.shapes.Attribute;
import jdiffusion.tools.shapes.Captions;
import jdiffusion.tools.shapes.EvalReport;
import jdiffusion.tools.shapes.InstanceScore;
import jdiffusion.tools.shapes.ShapeScene;
import jdiffusion.tools.shapes.ShapesDataset;
import jdiffusion.training.dreambooth.DreamBoothConfig;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion eval-tiny}: generates one image per held-out caption (scenes never seen in
 * training, the green triangles among them) and scores colour, background, shape and position
 * by image analysis, at each guidance scale asked for. With {@code --instance-prompt} and
 * {@code --instance-dir} it also checks a DreamBooth run: how often the instance prompt draws the
 * subject of the instance images ({@link InstanceScore}); {@code --lora} applies a LoRA to every image.
 */
@Command(name = "eval-tiny", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Score the tiny shapes model on held-out captions (accuracy per attribute and guidance).")
final class EvalTinyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(names = "--num-images", description = "Images per guidance scale (default: ${DEFAULT-VALUE}).")
    int n = 100;

    @Option(names = "--n", hidden = true, description = "Old spelling of --num-images.")
    void oldN(int value) {
        n = value;
    }

    @Option(names = "--guidance-scale", split = ",", paramLabel = "G", description = "Guidance scales to compare (default: 1,7.5).")
    List<Double> guidance = List.of(1.0, 7.5);

    @Option(names = "--guidance", split = ",", hidden = true, description = "Old spelling of --guidance-scale.")
    void oldGuidance(List<Double> values) {
        if (values != null) guidance = values;
    }

    @Option(names = "--steps", description = "Denoising steps (default: ${DEFAULT-VALUE}).")
    int steps = 25;

    @Option(names = "--sampler", split = ",", paramLabel = "NAME[:STEPS]",
            description = "Samplers to compare, each with its own step count if given (e.g. \"DPM++ 2M,LCM:4,TCD:4\"); "
                    + "default: the model's scheduler at --steps.")
    List<String> samplers = new ArrayList<>();

    @Option(names = "--deepcache", split = ",", paramLabel = "N[,N...]",
            description = "DeepCache intervals to compare (0 = off; default: 0): each sampler is scored with each.")
    List<Integer> deepCaches = new ArrayList<>();

    @Option(names = "--seed", description = "Seed of the first image; image i uses seed + i (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--split-seed", description = "Seed of the dataset split the model was trained on (default: ${DEFAULT-VALUE}).")
    long splitSeed;

    @Option(names = "--failures", description = "List the images that got an attribute wrong.")
    boolean failures;

    @Option(names = "--lora", paramLabel = "FILE[:SCALE]", description = "Apply a LoRA to every image (repeatable).")
    List<String> loras = new ArrayList<>();

    @Option(names = "--instance-prompt", description = "DreamBooth check: also draw --instance-n images from this prompt "
            + "and score them against the subject of --instance-dir's images.")
    String instancePrompt;

    @Option(names = "--instance-dir", paramLabel = "DIR", description = "The instance images the subject is read from.")
    Path instanceDir;

    @Option(names = "--instance-n", description = "Images from the instance prompt per guidance scale (default: ${DEFAULT-VALUE}).")
    int instanceN = 50;

    @Option(names = "--skip-captions", description = "Only the instance check, not the held-out captions.")
    boolean skipCaptions;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (n < 1) throw new JDiffusionException("--num-images must be at least 1");
        if ((instancePrompt == null) != (instanceDir == null)) {
            throw new JDiffusionException("--instance-prompt and --instance-dir go together");
        }
        if (instanceN < 1) throw new JDiffusionException("--instance-n must be at least 1");
        if (skipCaptions && instancePrompt == null) {
            throw new JDiffusionException("--skip-captions leaves nothing to score without --instance-prompt");
        }
        List<LoRASpec> loraSpecs = loras.stream().map(GenerationOptions::parseLora).toList();
        List<BufferedImage> instances = instanceDir == null ? List.of()
                : DreamBoothConfig.imageFiles(instanceDir).stream().map(Images::read).toList();
        if (instanceDir != null && instances.isEmpty()) {
            throw new JDiffusionException("--instance-dir " + instanceDir + " holds no images");
        }
        List<SamplerRun> runs = samplers.isEmpty() ? List.of(new SamplerRun(null, steps))
                : samplers.stream().map(s -> SamplerRun.parse(s, steps)).toList();
        List<Integer> intervals = deepCaches.isEmpty() ? List.of(0) : List.copyOf(deepCaches);
        for (int interval : intervals) if (interval != 0) DeepCache.check(interval);
        List<ShapeScene> scenes = new ShapesDataset(splitSeed).evalScenes(n);
        String folder = model.resolve();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(folder, PipelineOptions.defaults())) {
            StringBuilder instanceSummary = new StringBuilder();
            StringBuilder summary = new StringBuilder(String.format(Locale.ROOT, "%-34s%-9s", "sampler", "guidance"));
            for (Attribute a : Attribute.values()) summary.append(String.format(Locale.ROOT, "%12s", a.label()));
            summary.append(System.lineSeparator());
            List<BufferedImage> rendered = List.of();
            if (instancePrompt != null) {
                // DreamBooth leaves the VAE frozen: what it makes of the instance images bounds what any UNet can draw
                rendered = reconstructions(pipe, instances);
                InstanceScore ceiling = InstanceScore.of(instances, rendered);
                out.println("VAE ceiling (the instance images encoded and decoded): " + ceiling);
                instanceSummary.append("VAE ceiling: ").append(ceiling).append(System.lineSeparator());
            }
            for (double g : guidance) {
                if (instancePrompt != null) {
                    ProgressBar ibar = new ProgressBar(System.err, "instance, guidance " + g, instanceN);
                    List<BufferedImage> drawn = new ArrayList<>();
                    for (int i = 0; i < instanceN; i++) {
                        drawn.add(pipe.generate(GenerationRequest.builder(instancePrompt).guidanceScale(g).steps(steps)
                                .seed(seed + i).loras(loraSpecs).build()).images().getFirst());
                        ibar.update(i + 1);
                    }
                    ibar.done();
                    InstanceScore score = InstanceScore.of(instances, drawn);
                    InstanceScore asRendered = InstanceScore.of(rendered, drawn);
                    out.printf(Locale.ROOT, "%ninstance prompt \"%s\", guidance %s: %s%n", instancePrompt, g, score);
                    instanceSummary.append(String.format(Locale.ROOT, "%-9s %s%n", g, score));
                    instanceSummary.append(String.format(Locale.ROOT, "%-9s as the VAE renders the instances: %s%n", g,
                            asRendered));
                }
                if (skipCaptions) continue;
                for (SamplerRun run : runs) for (int interval : intervals) {
                    long start = System.nanoTime();
                    String label = (run.sampler() == null ? "default" : run.sampler()) + ", " + run.steps() + " steps"
                            + (interval > 0 ? ", DeepCache " + interval : "");
                    ProgressBar bar = new ProgressBar(System.err, label + ", guidance " + g, scenes.size());
                    int[] done = {0};
                    EvalReport report = EvalReport.evaluate(scenes, prompt -> {
                        var request = GenerationRequest.builder(prompt).guidanceScale(g).steps(run.steps()).sampler(run.sampler())
                                .seed(seed + done[0]).loras(loraSpecs).deepCache(interval).build();
                        var image = pipe.generate(request).images().getFirst();
                        bar.update(++done[0]);
                        return image;
                    });
                    bar.done();
                    out.printf(Locale.ROOT, "%n%s, guidance %s: %d images, %.1f s%n%s", label, g, scenes.size(),
                            (System.nanoTime() - start) / 1e9, report.table());
                    if (failures) report.failures().forEach(f -> out.println("  " + f));
                    summary.append(String.format(Locale.ROOT, "%-34s%-9s", label, g));
                    for (Attribute a : Attribute.values()) {
                        summary.append(String.format(Locale.ROOT, "%11.1f%%", 100 * report.accuracy(a)));
                    }
                    summary.append(System.lineSeparator());
                }
            }
            if (!skipCaptions) {
                out.printf(Locale.ROOT, "%n%s", summary);
                out.println("prompts: " + Captions.canonical(scenes.getFirst()) + ", ...");
            }
            if (instancePrompt != null) {
                out.printf(Locale.ROOT, "%ninstance prompt \"%s\" against %s:%n%s", instancePrompt, instanceDir,
                        instanceSummary);
            }
        }
        out.flush();
        return 0;
    }

    /** One sampler to score: an A1111 or diffusers name (null: the model's scheduler) and its steps. */
    record SamplerRun(String sampler, int steps) {
        static SamplerRun parse(String spec, int defaultSteps) {
            int colon = spec.lastIndexOf(':');
            if (colon < 0) return new SamplerRun(spec.strip(), defaultSteps);
            String count = spec.substring(colon + 1).strip();
            int steps;
            try {
                steps = Integer.parseInt(count);
            } catch (NumberFormatException e) {
                throw new JDiffusionException("--sampler " + spec + ": the steps after ':' must be a whole number, got \"" + count + "\"");
            }
            if (steps < 1 || steps > 1000) throw new JDiffusionException("--sampler " + spec + ": steps must be 1 to 1000");
            return new SamplerRun(spec.substring(0, colon).strip(), steps);
        }
    }

    /** Each image through the model's VAE: encode (posterior mode), decode. */
    private static List<BufferedImage> reconstructions(StableDiffusionPipeline pipe, List<BufferedImage> images) {
        List<BufferedImage> out = new ArrayList<>();
        for (BufferedImage img : images) {
            try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
                out.add(Images.fromTensor(pipe.vae().decode(pipe.vae().encode(Images.toTensor(img)).mode()))[0]);
            }
        }
        return out;
    }
}
