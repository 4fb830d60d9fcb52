package jdiffusion.lora;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;

/** Where LoRA files are found by name, and the hash AUTOMATIC1111 records for them. */
public final class LoRAFiles {
    /** Folders below the LoRA folder that are searched; A1111 searches all, this keeps a typo'd root cheap. */
    private static final int MAX_DEPTH = 8;

    private LoRAFiles() {}

    /**
     * The file {@code <lora:NAME>} means: {@code dir/NAME.safetensors}, else the one
     * {@code NAME.safetensors} in a subfolder (A1111 finds LoRAs by file stem anywhere below its
     * Lora folder). Names are matched as stems only, so {@code ../x} cannot leave the folder.
     */
    public static Path find(Path dir, String name) {
        if (dir == null) {
            throw new JDiffusionException("<lora:" + name + "> names a LoRA, but no LoRA folder is set: pass --lora-dir DIR"
                    + " (GenerationRequest.loraDir) holding " + name + ".safetensors");
        }
        if (!Files.isDirectory(dir)) throw new JDiffusionException("the LoRA folder " + dir + " does not exist");
        String wanted = name + ".safetensors";
        try (Stream<Path> files = Files.walk(dir, MAX_DEPTH)) {
            List<Path> hits = files.filter(p -> p.getFileName().toString().equals(wanted) && Files.isRegularFile(p))
                    .sorted().toList();
            if (hits.isEmpty()) {
                throw new JDiffusionException("no LoRA named '" + name + "': " + wanted + " is not in " + dir
                        + " or its subfolders");
            }
            Path top = dir.resolve(wanted);
            if (hits.contains(top)) return top;
            if (hits.size() > 1) {
                throw new JDiffusionException("the LoRA name '" + name + "' is ambiguous: " + hits
                        + "; rename one of them");
            }
            return hits.getFirst();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The first 12 hex digits of the SHA-256 of the file's tensor data, header excluded: the
     * "addnet" hash that kohya's sd-scripts and AUTOMATIC1111 write into {@code Lora hashes}
     * (A1111 modules/hashes.py {@code addnet_hash_safetensors}, shortened as its {@code shorthash}).
     * Excluding the header keeps the hash when only the metadata is edited.
     */
    public static String shortHash(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            while (len.hasRemaining() && ch.read(len) >= 0) {
                // fill the 8-byte header length
            }
            len.flip();
            if (len.remaining() < 8) throw new JDiffusionException(file + " is too short to be a safetensors file");
            long dataStart = 8 + len.getLong();
            if (dataStart < 8 || dataStart > ch.size()) throw new JDiffusionException(file + " has a corrupt safetensors header");
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            ch.position(dataStart);
            while (ch.read(buf) > 0) {
                buf.flip();
                sha.update(buf);
                buf.clear();
            }
            return HexFormat.of().formatHex(sha.digest()).substring(0, 12);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read LoRA " + file + " (" + e.getMessage() + ")", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
