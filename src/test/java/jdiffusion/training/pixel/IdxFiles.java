package jdiffusion.training.pixel;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Small Fashion-MNIST-shaped IDX files for tests: each class is a bright band at its own rows. */
public final class IdxFiles {
    private IdxFiles() {}

    static byte[] idx(int[] dims, byte[] data) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[] {0, 0, 8, (byte) dims.length});
        for (int d : dims) out.writeInt(d);
        out.write(data);
        return bytes.toByteArray();
    }

    static void write(Path file, byte[] bytes, boolean gzip) throws IOException {
        try (OutputStream out = gzip ? new GZIPOutputStream(Files.newOutputStream(file)) : Files.newOutputStream(file)) {
            out.write(bytes);
        }
    }

    /** {@code count} 28x28 images, label i % 10, class c = a band of rows 2c..2c+5 with noise. */
    public static Path fashionLike(Path dir, String prefix, int count) throws IOException {
        Files.createDirectories(dir);
        byte[] images = new byte[count * 28 * 28];
        byte[] labels = new byte[count];
        java.util.Random rng = new java.util.Random(count);
        for (int i = 0; i < count; i++) {
            int c = i % 10;
            labels[i] = (byte) c;
            for (int y = 0; y < 28; y++) {
                for (int x = 0; x < 28; x++) {
                    int v = y >= 2 * c && y < 2 * c + 6 ? 220 : 20;
                    images[(i * 28 + y) * 28 + x] = (byte) Math.min(255, Math.max(0, v + rng.nextInt(21) - 10));
                }
            }
        }
        write(dir.resolve(prefix + "-images-idx3-ubyte.gz"), idx(new int[] {count, 28, 28}, images), true);
        write(dir.resolve(prefix + "-labels-idx1-ubyte.gz"), idx(new int[] {count}, labels), true);
        return dir;
    }
}
