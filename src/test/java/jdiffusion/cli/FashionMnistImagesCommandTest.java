package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import jdiffusion.training.pixel.FashionMnist;
import jdiffusion.training.pixel.IdxFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fashion-mnist-images: one class of a split as PNGs holding the IDX pixels, and its bad input. */
class FashionMnistImagesCommandTest {
    @TempDir
    Path dir;

    @Test
    void writesOneClassPixelForPixel() throws Exception {
        Path data = IdxFiles.fashionLike(dir.resolve("data"), "t10k", 30); // labels i % 10
        Path out = dir.resolve("bags");
        CliRunner r = CliRunner.run("fashion-mnist-images", "--data", data.toString(), "--class", "8", "--out", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().startsWith("3 images of class 8 (Bag) of the test set"), r.out());
        List<Path> files;
        try (Stream<Path> s = Files.list(out)) {
            files = s.sorted().toList();
        }
        assertEquals(List.of("00008.png", "00018.png", "00028.png"), files.stream().map(p -> p.getFileName().toString()).toList());
        FashionMnist set = FashionMnist.load(data, false);
        BufferedImage image = ImageIO.read(files.get(1).toFile());
        assertEquals(28, image.getWidth());
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) assertEquals(set.pixel(18, y, x), image.getRaster().getSample(x, y, 0), "pixel " + y + "," + x);
        }

        CliRunner limited = CliRunner.run("fashion-mnist-images", "--data", data.toString(), "--limit", "4", "--out", dir.resolve("any").toString());
        assertEquals(0, limited.exitCode(), limited.err());
        assertTrue(limited.out().startsWith("4 images of the test set"), limited.out());
    }

    @Test
    void badInputEndsWithOneLine() throws Exception {
        Path data = IdxFiles.fashionLike(dir.resolve("data"), "t10k", 10);
        String out = dir.resolve("out").toString();
        for (String[] args : new String[][] {
                {"fashion-mnist-images", "--data", data.toString(), "--class", "10", "--out", out},
                {"fashion-mnist-images", "--data", data.toString(), "--split", "dev", "--out", out},
                {"fashion-mnist-images", "--data", data.toString(), "--split", "train", "--out", out}, // no train files there
                {"fashion-mnist-images", "--data", dir.resolve("missing").toString(), "--out", out}}) {
            CliRunner r = CliRunner.run(args);
            assertEquals(2, r.exitCode(), String.join(" ", args) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
        assertTrue(Files.notExists(dir.resolve("out")) || Files.list(dir.resolve("out")).findAny().isEmpty(), "nothing written");
    }
}
