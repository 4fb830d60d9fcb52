package jdiffusion.cli;

import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;
import jdiffusion.JDiffusionException;
import jdiffusion.image.ImageFiles;
import jdiffusion.image.Images;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.pipelines.GenerationCancelledException;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.Infotext;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.PngParameters;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.pipelines.StepCallback;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import sun.misc.Signal;

/**
 * txt2img, img2img and inpaint: parse the options into a {@link GenerationRequest}, run the
 * pipeline with a progress bar, and write the PNGs (with their parameters) only when it finished.
 */
abstract class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    GenerationOptions o;

    /** The image-specific part of the request (init image, mask); txt2img adds nothing. */
    abstract void configure(GenerationRequest.Builder b);

    abstract String verb();

    /** A loaded pipeline that runs the command's requests; closed after the run. */
    record Loaded(BiFunction<GenerationRequest, StepCallback, GenerationResult> generator, Runnable closer) implements AutoCloseable {
        GenerationResult generate(GenerationRequest request, StepCallback callback) {
            return generator.apply(request, callback);
        }

        @Override
        public void close() {
            closer.run();
        }
    }

    /** txt2img, img2img and inpaint run StableDiffusionPipeline; depth2img and upscale their own pipelines. */
    Loaded load(String model, PipelineOptions options) {
        StableDiffusionPipeline pipe = StableDiffusionPipeline.load(model, o.tokenizer, options);
        pipe.components().oneRequest(); // one request per process: LoRAs merged for good, models freed when done
        return new Loaded(pipe::generate, pipe::close);
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PngParameters from = o.from == null ? null : readParameters(o.from);
        GenerationRequest request = request(from);
        String model = o.model != null ? o.model : DefaultModel.locate();
        checkOutputs(request.numImages());

        Loaded pipe = load(model, PipelineOptions.of(o.dtype, o.device, o.variant).withVae(o.vae).withEmbeddings(o.embeddings));
        try {
            AtomicBoolean stop = new AtomicBoolean();
            installInterruptHandler(stop);
            ProgressBar[] bar = new ProgressBar[1]; // made at the first step, when the UNet step count is known
            long start = System.nanoTime();
            GenerationResult result;
            try {
                result = pipe.generate(request, (step, total, t, latents) -> {
                    if (!o.quiet) {
                        if (bar[0] == null) bar[0] = new ProgressBar(System.err, verb(), total, start);
                        bar[0].update(step + 1);
                    }
                    if (stop.get()) {
                        throw new GenerationCancelledException("stopped at step " + (step + 1) + " of " + total
                                + " (Ctrl-C); nothing was written");
                    }
                    return null;
                });
            } finally {
                if (bar[0] != null) bar[0].done();
            }
            result.warnings().forEach(w -> System.err.println("warning: " + w));
            List<Path> written = write(result, request);
            out.printf(Locale.ROOT, "%s %dx%d, %d steps, seed %d, %.1f s -> %s%n", verb(),
                    result.images().getFirst().getWidth(), result.images().getFirst().getHeight(), request.steps(),
                    request.seed(), (System.nanoTime() - start) / 1e9, String.join(", ", written.stream().map(Path::toString).toList()));
            out.flush();
            return 0;
        } catch (GenerationCancelledException e) {
            spec.commandLine().getErr().println(e.getMessage());
            return 130;
        } finally {
            pipe.close();
        }
    }

    private GenerationRequest request(PngParameters from) {
        String prompt = o.prompt != null ? o.prompt : o.positionalPrompt;
        if (prompt != null && o.prompt != null && o.positionalPrompt != null) {
            throw new JDiffusionException("give the prompt once: either --prompt or as an argument");
        }
        if (prompt == null && from == null) throw new JDiffusionException("no prompt: pass --prompt \"...\" (or the prompt as an argument)");
        var b = GenerationRequest.builder(prompt)
                .negativePrompt(o.negativePrompt)
                .steps(o.steps)
                .guidanceScale(o.guidanceScale)
                .sampler(o.sampler)
                .numImages(o.numImages)
                .eta(o.eta)
                .clipSkip(o.clipSkip)
                .longPrompts(o.longPromptMode())
                .loras(o.loraSpecs())
                .loraDir(o.loraDir)
                .vaeTiling(o.vaeTilingMode())
                .deepCache(o.deepCache)
                .seed(o.seed != null ? o.seed : new SecureRandom().nextInt() & 0x7fffffffL)
                .size(o.width, o.height);
        configure(b);
        // --from: the PNG's values where no option was typed (A1111's infotext keys, read in one place)
        if (from != null) Infotext.applyTo(from, b, this::given);
        return b.build();
    }

    boolean given(String option) {
        return spec.commandLine().getParseResult().hasMatchedOption(option);
    }

    private static PngParameters readParameters(Path png) {
        String text = ImageFiles.readParameters(png);
        if (text == null) throw new JDiffusionException(png + " carries no generation parameters to regenerate from");
        return PngParameters.parse(text);
    }

    /**
     * Fails before any work when an output cannot be written: an image name jdiffusion does not
     * write (.webp, .gif, ...), a file where a folder is needed, or a folder this user cannot write to.
     */
    private void checkOutputs(int images) {
        if (o.out != null && !outIsFolder() && !ImageFiles.hasImageExtension(o.out)) {
            ImageFiles.formatOf(o.out); // says why (.webp: no encoder; any other name: not an image jdiffusion writes)
        }
        if (o.out != null && images > 1 && Files.isRegularFile(o.out)) {
            throw new JDiffusionException("--out " + o.out + " is a file, but " + images + " images need a folder");
        }
        if (o.saveLatents != null && !o.saveLatents.toString().endsWith(".safetensors")) {
            throw new JDiffusionException("--save-latents must name a .safetensors file, not " + o.saveLatents);
        }
        Path imageFolder = o.out == null ? Path.of("") : outIsFolder() ? o.out : o.out.toAbsolutePath().getParent();
        WritableFolder.require("--out", imageFolder);
        if (o.saveLatents != null) WritableFolder.require("--save-latents", o.saveLatents.toAbsolutePath().getParent());
    }

    /** --out is a folder when it is one, or when its name has no extension (it is then created); else an image file. */
    private boolean outIsFolder() {
        if (Files.isDirectory(o.out)) return true;
        String name = o.out.getFileName() == null ? "" : o.out.getFileName().toString();
        return !name.contains(".");
    }

    private List<Path> write(GenerationResult r, GenerationRequest request) {
        List<Path> paths = outputPaths(r.images().size(), request.seed());
        List<Path> written = new ArrayList<>();
        if (o.from != null && request.numImages() > 1 && o.from != null) {
            // --from of one image of a batch: write that one only
            PngParameters from = readParameters(o.from);
            String pos = from.get("Batch pos");
            if (pos != null && !given("--num-images")) {
                int i = Integer.parseInt(pos.trim());
                Path p = o.out != null && !Files.isDirectory(o.out) ? o.out : paths.get(i);
                ImageFiles.write(p, r.images().get(i), r.parameters().get(i).format());
                written.add(p);
                saveLatents(r);
                return written;
            }
        }
        for (int i = 0; i < r.images().size(); i++) {
            BufferedImage img = r.images().get(i);
            ImageFiles.write(paths.get(i), img, r.parameters().get(i).format());
            written.add(paths.get(i));
        }
        saveLatents(r);
        return written;
    }

    private void saveLatents(GenerationResult r) {
        if (o.saveLatents == null) return;
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put("initial_latents", r.initialLatents());
        t.put("final_latents", r.finalLatents());
        SafetensorsWriter.write(o.saveLatents, t, Map.of("format", "pt"));
    }

    private List<Path> outputPaths(int n, long seed) {
        List<Path> paths = new ArrayList<>();
        boolean folder = o.out != null && outIsFolder();
        for (int i = 0; i < n; i++) {
            String name = verb() + "-" + seed + (n > 1 ? "-" + (i + 1) : "") + ".png";
            if (o.out == null) {
                paths.add(Path.of(name));
            } else if (folder) {
                paths.add(o.out.resolve(name));
            } else if (n == 1) {
                paths.add(o.out);
            } else {
                String file = o.out.toString();
                int dot = file.lastIndexOf('.');
                paths.add(Path.of(file.substring(0, dot) + "-" + (i + 1) + file.substring(dot)));
            }
        }
        return paths;
    }

    /** Ctrl-C once: stop at the next step and write nothing. Twice: leave at once. */
    private static void installInterruptHandler(AtomicBoolean stop) {
        try {
            Signal.handle(new Signal("INT"), sig -> {
                if (stop.getAndSet(true)) Runtime.getRuntime().halt(130);
                System.err.println("\nstopping after this step (Ctrl-C again to quit at once)");
            });
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            // no signals here (e.g. some embedded JVMs): Ctrl-C ends the process as usual
        }
    }

    static BufferedImage image(Path p) {
        return Images.read(p);
    }
}
