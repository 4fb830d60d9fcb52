package jdiffusion.server;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.image.PngWriter;
import jdiffusion.pipelines.GenerationCancelledException;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.StableDiffusionPipeline;
import org.bytedeco.javacpp.PointerScope;

/**
 * Runs one job on the worker thread: each image of the job is its own generation (seed + k),
 * inside its own PointerScope, with a step callback that reports progress, sends previews and
 * stops the run at the next step when the job is cancelled (or the image skipped). Images go to
 * {@code <outputs>/<job id>-<k>.png} through a temporary file, so a re-run after a crash writes
 * the same names.
 */
final class JobRunner {
    private final ModelCatalog catalog;
    private final ServerOptions options;
    private final JobEvents events;

    JobRunner(ModelCatalog catalog, ServerOptions options, JobEvents events) {
        this.catalog = catalog;
        this.options = options;
        this.events = events;
    }

    /** Generates every image of {@code job}; throws GenerationCancelledException when it was cancelled. */
    void run(Job job, ModelCatalog.Entry model) {
        GenerationParams p = job.params;
        StableDiffusionPipeline pipe = catalog.pipeline(model);
        int every = LatentPreview.every(options.previewEvery(), p.width(), p.height());
        for (int k = 0; k < p.imageCount(); k++) {
            if (job.cancelRequested()) throw new GenerationCancelledException("cancelled");
            final int image = k;
            GenerationResult result;
            try (PointerScope scope = new PointerScope()) {
                result = pipe.generate(p.request(k, options.loraDir()), (step, total, t, latents) -> {
                    if (job.cancelRequested() || job.skipRequested()) {
                        throw new GenerationCancelledException("cancelled at step " + (step + 1) + " of " + total);
                    }
                    byte[] jpeg = null;
                    if ((step + 1) % every == 0 || step + 1 == total) {
                        jpeg = LatentPreview.jpeg(LatentPreview.image(latents));
                    }
                    job.progress(image, step + 1, total, jpeg);
                    events.progress(job, jpeg);
                    return null;
                });
                // the pipeline hands these out with an extra reference for its callers; not needed here
                result.initialLatents().close();
                result.finalLatents().close();
            } catch (GenerationCancelledException e) {
                if (job.takeSkip() && !job.cancelRequested()) continue;
                throw e;
            }
            job.addWarnings(result.warnings());
            String infotext = result.parameters().getFirst().format();
            write(job, k, result.images().getFirst(), infotext);
        }
    }

    private void write(Job job, int k, BufferedImage image, String infotext) {
        GenerationParams p = job.params;
        String name = job.id + "-" + k + ".png";
        boolean keep = job.durable || p.saveImages();
        Path file = keep ? options.outputs().resolve(name) : null;
        byte[] png = null;
        try {
            if (keep) {
                PngWriter.write(file, image, "parameters", infotext);
                if (!job.durable && p.sendImages()) png = Files.readAllBytes(file);
            } else if (p.sendImages()) {
                Path tmp = Files.createTempFile("jdiffusion-serve-", ".png");
                try {
                    PngWriter.write(tmp, image, "parameters", infotext);
                    png = Files.readAllBytes(tmp);
                } finally {
                    Files.deleteIfExists(tmp);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        job.addImage(keep ? name : null, png, infotext);
    }
}
