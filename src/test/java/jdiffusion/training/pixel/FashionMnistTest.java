package jdiffusion.training.pixel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.io.IdxFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The IDX reader and the Fashion-MNIST loader on files the test writes; every bad file is one line. */
class FashionMnistTest {
    @Test
    void readsPlainAndGzippedIdx(@TempDir Path dir) throws Exception {
        byte[] bytes = IdxFiles.idx(new int[] {2, 3}, new byte[] {1, 2, 3, 4, 5, (byte) 250});
        IdxFiles.write(dir.resolve("a"), bytes, false);
        IdxFiles.write(dir.resolve("a.gz"), bytes, true);
        for (String name : new String[] {"a", "a.gz"}) {
            IdxFile f = IdxFile.read(dir.resolve(name));
            assertEquals(2, f.count());
            assertEquals(3, f.dims()[1]);
            assertEquals(250, f.get(5));
        }
    }

    @Test
    void loadsTheSplitsWithLabels(@TempDir Path dir) throws Exception {
        IdxFiles.fashionLike(dir, "train", 30);
        IdxFiles.fashionLike(dir, "t10k", 10);
        FashionMnist train = FashionMnist.load(dir, true);
        assertEquals(30, train.count());
        assertEquals(7, train.label(17));
        assertTrue(train.pixel(3, 7, 0) > 200); // class 3's band covers rows 6..11
        assertEquals(10, FashionMnist.load(dir, false).count());
    }

    @Test
    void badFilesAreOneLineErrors(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("text"), "hello, not an IDX file");
        assertMessage("is not an IDX file", () -> IdxFile.read(dir.resolve("text")));
        byte[] full = IdxFiles.idx(new int[] {4, 28, 28}, new byte[4 * 28 * 28]);
        IdxFiles.write(dir.resolve("short"), java.util.Arrays.copyOf(full, full.length - 100), false);
        assertMessage("is truncated: its IDX header [4, 28, 28] promises 3136 bytes of data, the file holds 3036",
                () -> IdxFile.read(dir.resolve("short")));
        IdxFiles.write(dir.resolve("header"), new byte[] {0, 0, 8, 3, 0, 0}, false);
        assertMessage("is truncated inside its IDX header", () -> IdxFile.read(dir.resolve("header")));
        IdxFiles.write(dir.resolve("float"), new byte[] {0, 0, 0x0d, 1, 0, 0, 0, 0}, false);
        assertMessage("only unsigned bytes", () -> IdxFile.read(dir.resolve("float")));
        assertMessage("does not exist", () -> IdxFile.read(dir.resolve("missing")));

        Path mismatch = Files.createDirectories(dir.resolve("mismatch"));
        IdxFiles.fashionLike(mismatch, "train", 20);
        IdxFiles.write(mismatch.resolve("train-labels-idx1-ubyte.gz"), IdxFiles.idx(new int[] {19}, new byte[19]), true);
        assertMessage("holds 19 labels but train-images-idx3-ubyte.gz holds 20 images", () -> FashionMnist.load(mismatch, true));

        Path badLabel = Files.createDirectories(dir.resolve("badlabel"));
        IdxFiles.fashionLike(badLabel, "train", 2);
        IdxFiles.write(badLabel.resolve("train-labels-idx1-ubyte.gz"), IdxFiles.idx(new int[] {2}, new byte[] {1, 12}), true);
        assertMessage("label 12 at item 1 is not a class 0 to 9", () -> FashionMnist.load(badLabel, true));
        assertMessage("has no train-images-idx3-ubyte(.gz)", () -> FashionMnist.load(dir, true));
    }

    private static void assertMessage(String part, org.junit.jupiter.api.function.Executable call) {
        JDiffusionException e = assertThrows(JDiffusionException.class, call);
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
    }
}
