package jdiffusion.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Writes torch.save's zip layout around a hand-made pickle: archive/data.pkl, archive/data/KEY, byteorder, version. */
public final class TorchZip {
    private TorchZip() {}

    /** A torch.save zip: stored entries, storage data aligned to 64 bytes as torch aligns them. */
    public static Path write(Path file, byte[] pickle, Map<String, byte[]> storages) throws IOException {
        try (CountingStream counting = new CountingStream(Files.newOutputStream(file));
             ZipOutputStream zip = new ZipOutputStream(counting)) {
            storedEntry(zip, counting, "archive/data.pkl", pickle, false);
            storedEntry(zip, counting, "archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII), false);
            for (Map.Entry<String, byte[]> s : storages.entrySet()) storedEntry(zip, counting, "archive/data/" + s.getKey(), s.getValue(), true);
            storedEntry(zip, counting, "archive/version", "3\n".getBytes(StandardCharsets.US_ASCII), false);
        }
        return file;
    }

    private static void storedEntry(ZipOutputStream zip, CountingStream counting, String name, byte[] data, boolean align)
            throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(data.length);
        e.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        e.setCrc(crc.getValue());
        if (align) {
            zip.flush();
            long dataStart = counting.count + 30 + name.length() + 4;
            int pad = (int) ((64 - dataStart % 64) % 64);
            byte[] extra = new byte[4 + pad];
            extra[0] = (byte) 0xfe;
            extra[1] = (byte) 0xca; // an unregistered extra-field id, as padding
            extra[2] = (byte) pad;
            e.setExtra(extra);
        }
        zip.putNextEntry(e);
        zip.write(data);
        zip.closeEntry();
    }

    private static final class CountingStream extends OutputStream {
        private final OutputStream out;
        long count;

        CountingStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }
}
