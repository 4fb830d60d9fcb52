package jdiffusion.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImagesTest {
    @TempDir
    Path dir;

    @Test
    void pixelsRoundTripThroughTensorsAndPng() {
        BufferedImage img = new BufferedImage(5, 3, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) img.setRGB(x, y, (x * 50 << 16) | (y * 120 << 8) | (x * y * 17));
        }
        Tensor t = Images.toTensor(img);
        assertArrayEquals(new long[] {1, 3, 3, 5}, Tensors.shape(t));
        assertEquals(-1f, Tensors.toFloats(t)[0]);
        BufferedImage back = Images.fromTensor(t)[0];
        Path png = dir.resolve("a.png");
        PngWriter.write(png, back, "parameters", "a prompt\nSteps: 4, Seed: 1, Size: 5x3");
        BufferedImage read = Images.read(png);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 5; x++) assertEquals(img.getRGB(x, y), read.getRGB(x, y));
        }
        assertEquals("a prompt\nSteps: 4, Seed: 1, Size: 5x3", PngWriter.readText(png, "parameters"));
    }

    @Test
    void resizeModesGiveTheRequestedSize() {
        BufferedImage img = new BufferedImage(40, 20, BufferedImage.TYPE_INT_RGB);
        for (Images.ResizeMode m : Images.ResizeMode.values()) {
            BufferedImage out = Images.fit(img, 16, 16, m);
            assertEquals(16, out.getWidth(), m.name());
            assertEquals(16, out.getHeight(), m.name());
        }
    }

    @Test
    void unreadableImagesGetAClearError() throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.png"), "not an image");
        var e = assertThrows(JDiffusionException.class, () -> Images.read(junk));
        assertTrue(e.getMessage().contains("is not an image"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> Images.read(dir.resolve("missing.png")));
        assertTrue(e.getMessage().contains("file not found"), e.getMessage());
    }

    @Test
    void maskBlurSoftensAnEdge() {
        BufferedImage mask = new BufferedImage(20, 1, BufferedImage.TYPE_INT_RGB);
        for (int x = 10; x < 20; x++) mask.setRGB(x, 0, 0xffffff);
        BufferedImage blurred = Images.blurMask(mask, 2);
        int left = blurred.getRGB(9, 0) & 0xff;
        int right = blurred.getRGB(10, 0) & 0xff;
        assertTrue(left > 0 && left < 255 && right > left && right < 255, left + " " + right);
        assertEquals(0, blurred.getRGB(0, 0) & 0xff);
        assertEquals(255, blurred.getRGB(19, 0) & 0xff);
    }
}
