package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --out's extension decides the format: JPEG bytes in a .jpg, PNG bytes in a .png, both with the parameters. */
class OutputFormatsTest {
    @TempDir
    Path dir;

    @Test
    void jpgGetsJpegBytesAndTheParametersInAComment() throws Exception {
        Path jpg = dir.resolve("cat.jpg");
        CliRunner r = CliRunner.run("txt2img", "--steps", "2", "--seed", "5", "--quiet", "--out", jpg.toString(), "a red circle");
        assertEquals(0, r.exitCode(), r.err());
        byte[] bytes = Files.readAllBytes(jpg);
        assertEquals(0xff, bytes[0] & 0xff);
        assertEquals(0xd8, bytes[1] & 0xff); // JPEG SOI, not PNG's 0x89 'P' 'N' 'G'
        BufferedImage image = ImageIO.read(jpg.toFile());
        assertNotNull(image);
        assertEquals(64, image.getWidth());
        String comment = jpegComment(jpg);
        assertTrue(comment.startsWith("a red circle") && comment.contains("Seed: 5"), comment);
        CliRunner info = CliRunner.run("info", jpg.toString());
        assertEquals(0, info.exitCode(), info.err());
        assertTrue(info.out().startsWith("a red circle") && info.out().contains("Seed: 5"), info.out());

        Path two = dir.resolve("two.jpeg");
        r = CliRunner.run("txt2img", "--steps", "2", "--seed", "5", "--num-images", "2", "--quiet", "--out", two.toString(), "a red circle");
        assertEquals(0, r.exitCode(), r.err());
        for (String name : new String[] {"two-1.jpeg", "two-2.jpeg"}) {
            assertEquals(0xd8, Files.readAllBytes(dir.resolve(name))[1] & 0xff, name);
        }
    }

    @Test
    void jpegParametersKeepAnyText() {
        Path jpg = dir.resolve("x.jpg");
        String parameters = "un café ☕ sous la pluie, 雨\nSteps: 20, Seed: 1";
        jdiffusion.image.ImageFiles.write(jpg, new BufferedImage(16, 8, BufferedImage.TYPE_INT_RGB), parameters);
        assertEquals(parameters, jdiffusion.image.ImageFiles.readParameters(jpg));
        Path png = dir.resolve("x.png");
        jdiffusion.image.ImageFiles.write(png, new BufferedImage(16, 8, BufferedImage.TYPE_INT_ARGB), "a\nSteps: 2");
        assertEquals("a\nSteps: 2", jdiffusion.image.ImageFiles.readParameters(png));
    }

    private static String jpegComment(Path jpg) throws Exception {
        try (InputStream in = Files.newInputStream(jpg); ImageInputStream iis = ImageIO.createImageInputStream(in)) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            ImageReader reader = readers.next();
            reader.setInput(iis);
            IIOMetadataNode root = (IIOMetadataNode) reader.getImageMetadata(0).getAsTree("javax_imageio_jpeg_image_1.0");
            var com = root.getElementsByTagName("com");
            assertEquals(1, com.getLength(), "one comment segment");
            IIOMetadataNode node = (IIOMetadataNode) com.item(0);
            Object bytes = node.getUserObject();
            return bytes instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : node.getAttribute("comment");
        }
    }
}
