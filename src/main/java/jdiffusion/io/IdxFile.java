package jdiffusion.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;
import jdiffusion.JDiffusionException;

/**
 * An IDX file of unsigned bytes (the format of MNIST and Fashion-MNIST, http://yann.lecun.com/exdb/mnist/),
 * plain or gzipped: magic {@code 00 00 08 n}, n big-endian int32 dimensions, then the bytes in
 * row-major order. Anything else (another element type, a short file, trailing bytes) is a one-line
 * {@link JDiffusionException} naming the file.
 *
 * <pre>{@code
 * IdxFile labels = IdxFile.read(Path.of("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"));
 * int first = labels.get(0); // dims() = [60000]
 * }</pre>
 *
 * @param dims the dimensions, the first one being the number of items
 * @param data the bytes, {@code product(dims)} of them
 */
public record IdxFile(Path file, int[] dims, byte[] data) {
    private static final int UNSIGNED_BYTE = 0x08;

    public static IdxFile read(Path file) {
        byte[] raw;
        try (InputStream in = open(file)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            in.transferTo(out);
            raw = out.toByteArray();
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(file + " does not exist");
        } catch (IOException e) {
            throw new JDiffusionException(file + " cannot be read as an IDX file (" + e.getMessage() + ")", e);
        }
        if (raw.length < 4 || raw[0] != 0 || raw[1] != 0) {
            throw new JDiffusionException(file + " is not an IDX file: it does not start with the bytes 00 00");
        }
        if ((raw[2] & 0xff) != UNSIGNED_BYTE) {
            throw new JDiffusionException(file + " is an IDX file of element type 0x" + Integer.toHexString(raw[2] & 0xff)
                    + "; only unsigned bytes (0x08, as MNIST) are supported");
        }
        int n = raw[3] & 0xff;
        if (n < 1 || raw.length < 4 + 4 * n) {
            throw new JDiffusionException(file + " is truncated inside its IDX header (" + n + " dimensions, "
                    + raw.length + " bytes)");
        }
        ByteBuffer header = ByteBuffer.wrap(raw, 4, 4 * n); // big-endian, Java's default
        int[] dims = new int[n];
        long count = 1;
        for (int i = 0; i < n; i++) {
            dims[i] = header.getInt();
            if (dims[i] < 0) throw new JDiffusionException(file + " has a negative IDX dimension " + dims[i]);
            count *= dims[i];
        }
        long have = raw.length - 4L - 4L * n;
        if (have != count) {
            throw new JDiffusionException(file + (have < count ? " is truncated" : " has trailing bytes") + ": its IDX header "
                    + Arrays.toString(dims) + " promises " + count + " bytes of data, the file holds " + have);
        }
        return new IdxFile(file, dims, Arrays.copyOfRange(raw, 4 + 4 * n, raw.length));
    }

    /** Gzipped files start with 1f 8b; anything else is read as it is. */
    private static InputStream open(Path file) throws IOException {
        InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file));
        in.mark(2);
        int a = in.read(), b = in.read();
        in.reset();
        return a == 0x1f && b == 0x8b ? new GZIPInputStream(in) : in;
    }

    /** Number of items (the first dimension). */
    public int count() {
        return dims[0];
    }

    /** Byte {@code i} as an unsigned value 0..255. */
    public int get(int i) {
        return data[i] & 0xff;
    }
}
