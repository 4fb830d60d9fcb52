package jdiffusion.tools.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;

/** The model shipped in models/tiny-shapes: small enough to commit, loads with the SD loader, draws in seconds. */
class TinyShapesModelTest {
    static final Path MODEL = Path.of("models/tiny-shapes");

    @Test
    void theShippedModelIsSmallAndAnOrdinaryDiffusersFolder() throws Exception {
        assertTrue(Files.isRegularFile(MODEL.resolve("model_index.json")), "models/tiny-shapes is committed");
        long bytes;
        try (Stream<Path> files = Files.walk(MODEL)) {
            bytes = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        assertTrue(bytes <= 25L << 20, "models/tiny-shapes holds " + bytes + " bytes; the limit is 25 MB");
    }

    @Test
    void theShippedModelMakesA64x64ImageInSeconds() {
        long start = System.nanoTime();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(MODEL.toString(), PipelineOptions.defaults())) {
            BufferedImage image = pipe.generate(GenerationRequest.builder("a red circle on a blue background")
                    .steps(20).seed(0).build()).images().getFirst();
            assertEquals(64, image.getWidth());
            assertEquals(64, image.getHeight());
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        assertTrue(seconds < 30, "load + 20 steps took " + seconds + " s");
    }
}
