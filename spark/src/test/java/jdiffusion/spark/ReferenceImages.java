package jdiffusion.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.image.PngWriter;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import org.bytedeco.javacpp.PointerScope;

/** What the single-process library writes for a request: the bytes the Spark job must reproduce. */
final class ReferenceImages implements AutoCloseable {
    /** The tiny model committed in the repository, beside this module. */
    static final Path TINY_MODEL = Path.of("..", "models", "tiny-shapes").toAbsolutePath().normalize();

    private final StableDiffusionPipeline pipe = StableDiffusionPipeline.load(TINY_MODEL.toString(), PipelineOptions.defaults());
    private final Path scratch;

    ReferenceImages(Path scratch) {
        this.scratch = scratch;
    }

    byte[] png(GenerationRequest request) {
        try (PointerScope scope = new PointerScope()) {
            GenerationResult r = pipe.generate(request);
            Path file = Files.createTempFile(scratch, "reference-", ".png");
            PngWriter.write(file, r.images().getFirst(), "parameters", r.parameters().getFirst().format());
            byte[] bytes = Files.readAllBytes(file);
            Files.delete(file);
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        pipe.close();
    }
}
