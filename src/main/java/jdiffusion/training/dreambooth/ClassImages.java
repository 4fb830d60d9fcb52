package jdiffusion.training.dreambooth;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.function.IntConsumer;
import javax.imageio.ImageIO;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.StableDiffusionPipeline;

/**
 * The class images of prior preservation, generated as train_dreambooth.py does before training:
 * the base model draws the missing {@code num_class_images - existing} with the class prompt (the
 * pipeline's defaults: guidance 7.5, the model's own scheduler and size), saved as
 * {@code <index>-<sha1 of the RGB bytes>.jpg} with index counting on from the existing images.
 * Each file is written to a temporary file and moved into place, so a stopped run leaves only
 * whole images and the next run generates just what is still missing.
 */
public final class ClassImages {
    private ClassImages() {}

    /**
     * Generates the missing class images into {@code config.classDir()}; returns how many it made.
     * Image i (counted over the folder) uses seed {@code config.seed() + i}, where diffusers draws
     * from the global generator, so a rerun makes the same images. {@code done} hears the count.
     */
    public static int generateMissing(StableDiffusionPipeline pipe, DreamBoothConfig config, IntConsumer done) {
        Path dir = config.classDir();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new JDiffusionException("cannot create --class-dir " + dir + ": " + e.getMessage(), e);
        }
        int existing = DreamBoothConfig.imageFiles(dir).size();
        int missing = config.numClassImages() - existing;
        for (int i = 0; i < missing; i++) {
            int index = existing + i;
            GenerationRequest request = GenerationRequest.builder(config.classPrompt())
                    .steps(config.classInferenceSteps()).seed(config.seed() + index).build();
            BufferedImage image = pipe.generate(request).images().getFirst();
            Path file = dir.resolve(index + "-" + sha1(image) + ".jpg");
            AtomicFiles.write(file, tmp -> {
                if (!ImageIO.write(image, "jpg", tmp.toFile())) throw new IOException("no JPEG writer");
            });
            done.accept(i + 1);
        }
        return Math.max(0, missing);
    }

    /** hashlib.sha1(image.tobytes()): the RGB bytes row by row. */
    static String sha1(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        byte[] bytes = new byte[w * h * 3];
        int i = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = image.getRGB(x, y);
                bytes[i++] = (byte) (p >> 16);
                bytes[i++] = (byte) (p >> 8);
                bytes[i++] = (byte) p;
            }
        }
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
