package jdiffusion.training.dreambooth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import javax.imageio.ImageIO;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.tensor.Tensors;
import jdiffusion.tools.shapes.TinyVocabulary;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Resize, crop, flip and normalisation on hand-made images; batches as diffusers' collate_fn builds them. */
class DreamBoothDatasetTest {
    @TempDir
    Path dir;

    /** A w x h image whose pixel (x, y) has red = x, green = y, blue = 7. */
    static BufferedImage ramp(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, (x << 16) | (y << 8) | 7);
        return img;
    }

    @Test
    void resizeShorterSideKeepsTheAspectAsTorchvision() {
        BufferedImage r = ImageTransforms.resizeShorterSide(ramp(30, 20), 8);
        assertEquals(12, r.getWidth());   // int(8 * 30 / 20)
        assertEquals(8, r.getHeight());
        BufferedImage t = ImageTransforms.resizeShorterSide(ramp(20, 35), 8);
        assertEquals(8, t.getWidth());
        assertEquals(14, t.getHeight());  // int(8 * 35 / 20) = int(14.0)
    }

    @Test
    void downscalingAveragesWithPilsTriangleFilter() {
        // 4x1 -> 2x1: scale 2, support 2; output 0 is centred at 1.0 and weighs inputs 0, 1, 2 by
        // 0.75, 0.75, 0.25 (normalised 3/7, 3/7, 1/7): (0*3 + 100*3 + 200) / 7 = 71.4 -> 71
        BufferedImage img = new BufferedImage(4, 1, BufferedImage.TYPE_INT_RGB);
        int[] v = {0, 100, 200, 255};
        for (int x = 0; x < 4; x++) img.setRGB(x, 0, v[x] << 16);
        BufferedImage r = ImageTransforms.resizeBilinear(img, 2, 1);
        assertEquals(71, (r.getRGB(0, 0) >> 16) & 0xff);
        // output 1, centred at 3.0: inputs 1, 2, 3 weigh 0.25, 0.75, 0.75: (100 + 600 + 765) / 7 = 209.3 -> 209
        assertEquals(209, (r.getRGB(1, 0) >> 16) & 0xff);
        // a flat image stays flat, and no resize is the identity
        BufferedImage flat = ImageTransforms.resizeBilinear(ramp(1, 1), 5, 3);
        for (int y = 0; y < 3; y++) for (int x = 0; x < 5; x++) assertEquals(0x000007, flat.getRGB(x, y) & 0xffffff);
        BufferedImage same = ImageTransforms.resizeShorterSide(ramp(9, 9), 9);
        assertEquals(ramp(9, 9).getRGB(5, 4), same.getRGB(5, 4));
    }

    @Test
    void centerCropRoundsHalfToEvenAsPython() {
        // (6 - 4) / 2 = 1 -> left 1; (5 - 4) / 2 = 0.5 -> round() = 0
        BufferedImage a = ImageTransforms.centerCrop(ramp(6, 4), 4);
        assertEquals(1, (a.getRGB(0, 0) >> 16) & 0xff);
        BufferedImage b = ImageTransforms.centerCrop(ramp(5, 4), 4);
        assertEquals(0, (b.getRGB(0, 0) >> 16) & 0xff);
        BufferedImage c = ImageTransforms.centerCrop(ramp(4, 7), 4); // (7 - 4) / 2 = 1.5 -> 2
        assertEquals(2, (c.getRGB(0, 0) >> 8) & 0xff);
    }

    @Test
    void randomCropStaysInsideAndVaries() {
        Set<Integer> corners = new HashSet<>();
        Random rng = new Random(1);
        for (int i = 0; i < 50; i++) {
            BufferedImage c = ImageTransforms.randomCrop(ramp(10, 6), 4, rng);
            int left = (c.getRGB(0, 0) >> 16) & 0xff;
            int top = (c.getRGB(0, 0) >> 8) & 0xff;
            assertTrue(left >= 0 && left <= 6 && top >= 0 && top <= 2, left + "," + top);
            assertEquals(left + 3, (c.getRGB(3, 3) >> 16) & 0xff);
            corners.add(left * 10 + top);
        }
        assertTrue(corners.size() > 5, "random crops vary: " + corners);
    }

    @Test
    void flipMirrorsTheColumns() {
        BufferedImage f = ImageTransforms.flipHorizontal(ramp(5, 2));
        assertEquals(4, (f.getRGB(0, 1) >> 16) & 0xff);
        assertEquals(0, (f.getRGB(4, 1) >> 16) & 0xff);
        assertEquals(1, (f.getRGB(0, 1) >> 8) & 0xff);
    }

    private CLIPTokenizer tokenizer() {
        TinyVocabulary.build().write(dir.resolve("tokenizer"));
        return CLIPTokenizer.load(dir.resolve("tokenizer"));
    }

    private static void writeSolid(Path file, int rgb, int w, int h) throws Exception {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img.setRGB(x, y, rgb);
        Files.createDirectories(file.getParent());
        ImageIO.write(img, "png", file.toFile());
    }

    @Test
    void batchesAreInstancesThenClassImagesInMinusOneToOne() throws Exception {
        writeSolid(dir.resolve("inst/a.png"), 0xffffff, 12, 8);  // white, wider than tall
        writeSolid(dir.resolve("inst/b.png"), 0xffffff, 8, 8);
        writeSolid(dir.resolve("class/0-x.png"), 0x000000, 8, 8); // black
        writeSolid(dir.resolve("class/1-y.png"), 0x000000, 8, 16);
        writeSolid(dir.resolve("class/2-z.png"), 0x000000, 8, 8);
        CLIPTokenizer tok = tokenizer();
        DreamBoothConfig c = DreamBoothConfig.builder("m", dir.resolve("inst"), "a sks shape", dir.resolve("out"))
                .withPriorPreservation(true).classDir(dir.resolve("class")).classPrompt("a shape").numClassImages(2)
                .resolution(8).trainBatchSize(2).randomFlip(true).build();
        DreamBoothDataset data = new DreamBoothDataset(c, tok);
        assertEquals(2, data.classCount(), "min(existing, num_class_images) class images");
        assertEquals(2, data.length());
        try (PointerScope scope = new PointerScope()) {
            DreamBoothDataset.Batch b = data.batch(3, 0);
            assertArrayEquals(new long[] {4, 3, 8, 8}, Tensors.shape(b.pixels()));
            assertArrayEquals(new long[] {4, 77}, Tensors.shape(b.inputIds()));
            assertEquals(2, b.instances());
            float[] px = Tensors.toFloats(b.pixels());
            int half = px.length / 2;
            for (int i = 0; i < half; i++) assertEquals(1f, px[i], 0f, "instances (white) first");
            for (int i = half; i < px.length; i++) assertEquals(-1f, px[i], 0f, "then class images (black)");
            long[] ids = Tensors.toLongs(b.inputIds());
            int[] inst = tok.encodePadded("a sks shape");
            int[] cls = tok.encodePadded("a shape");
            for (int t = 0; t < 77; t++) {
                assertEquals(inst[t], ids[77 + t]);
                assertEquals(cls[t], ids[2 * 77 + t]);
            }
        }
    }

    @Test
    void eachEpochVisitsEveryExampleAndBatchesRepeat() throws Exception {
        for (int i = 0; i < 5; i++) writeSolid(dir.resolve("inst/" + i + ".png"), i * 40, 8, 8);
        DreamBoothConfig c = DreamBoothConfig.builder("m", dir.resolve("inst"), "a sks shape", dir.resolve("out"))
                .resolution(8).trainBatchSize(1).seed(3).build();
        DreamBoothDataset data = new DreamBoothDataset(c, tokenizer());
        for (int epoch = 0; epoch < 3; epoch++) {
            Set<Integer> seen = new HashSet<>();
            for (int i = 0; i < 5; i++) seen.add(data.indexAt(epoch * 5L + i));
            assertEquals(Set.of(0, 1, 2, 3, 4), seen, "epoch " + epoch);
        }
        try (PointerScope scope = new PointerScope()) {
            DreamBoothDataset again = new DreamBoothDataset(c, tokenizer());
            for (int step = 0; step < 7; step++) {
                assertArrayEquals(Tensors.toFloats(data.batch(step, 0).pixels()), Tensors.toFloats(again.batch(step, 0).pixels()));
            }
        }
    }
}
