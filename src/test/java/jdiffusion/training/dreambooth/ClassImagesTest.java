package jdiffusion.training.dreambooth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import jdiffusion.image.Images;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Class images: only the missing ones are generated, named as diffusers names them, never regenerated. */
class ClassImagesTest {
    @TempDir
    Path dir;

    @Test
    void onlyTheMissingImagesAreGeneratedAndASecondRunMakesNone() throws Exception {
        Path classes = dir.resolve("class");
        Files.createDirectories(classes);
        ImageIO.write(new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB), "png", classes.resolve("mine.png").toFile());
        DreamBoothConfig c = DreamBoothConfig.builder(DreamBoothTrainingTest.MODEL, dir.resolve("instance"), "a sks shape",
                        dir.resolve("out"))
                .withPriorPreservation(true).classDir(classes).classPrompt("a shape").numClassImages(3)
                .classInferenceSteps(3).build();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(c.model(), PipelineOptions.defaults())) {
            List<Integer> progress = new ArrayList<>();
            assertEquals(2, ClassImages.generateMissing(pipe, c, progress::add));
            assertEquals(List.of(1, 2), progress);
            List<Path> files = DreamBoothConfig.imageFiles(classes);
            assertEquals(3, files.size());
            List<String> generated = files.stream().map(p -> p.getFileName().toString()).filter(n -> !n.equals("mine.png")).toList();
            assertEquals(2, generated.size());
            // the index counts on from the images already there: 1 and 2; then the SHA-1 of the RGB bytes
            for (int i = 0; i < 2; i++) {
                String name = generated.get(i);
                assertTrue(name.matches((i + 1) + "-[0-9a-f]{40}\\.jpg"), name);
                assertEquals(64, Images.read(classes.resolve(name)).getWidth());
            }
            long before = Files.getLastModifiedTime(classes.resolve(generated.getFirst())).toMillis();
            assertEquals(0, ClassImages.generateMissing(pipe, c, progress::add), "nothing is missing any more");
            assertEquals(3, DreamBoothConfig.imageFiles(classes).size());
            assertEquals(before, Files.getLastModifiedTime(classes.resolve(generated.getFirst())).toMillis());
            // asking for more generates just the difference, with the next index
            DreamBoothConfig more = c.toBuilder().numClassImages(4).build();
            assertEquals(1, ClassImages.generateMissing(pipe, more, i -> {}));
            assertTrue(DreamBoothConfig.imageFiles(classes).stream().anyMatch(p -> p.getFileName().toString().startsWith("3-")));
            assertEquals(4, DreamBoothConfig.imageFiles(classes).size());
        }
    }

    @Test
    void theHashIsOfTheRgbBytesRowByRow() {
        BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, 0x010203);
        img.setRGB(1, 0, 0x040506);
        // hashlib.sha1(bytes([1, 2, 3, 4, 5, 6])).hexdigest(), computed in Python
        assertEquals("5d211bad8f4ee70e16c7d343a838fc344a1ed961", ClassImages.sha1(img));
    }
}
