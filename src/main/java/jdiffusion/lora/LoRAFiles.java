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
import java.util.Locale;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;

/** Where LoRA files are found by name, and the hash AUTOMATIC1111 records for them. */
public final class LoRAFiles {
    /** Folders below the LoRA folder that are searched; A1111 searches all, this keeps a typo'd root cheap. */
    private static final int MAX_DEPTH = 8;

    private LoRAFiles() {}

    /**
     * The extensions a LoRA file may have, in order of preference when one name has several:
     * safetensors first (it cannot run code and loads without a copy), then the pickles A1111
     * also lists ({@code .pt}, {@code .ckpt}) and diffusers' older {@code .bin}.
     */
    public static final List<String> EXTENSIONS = List.of(".safetensors", ".pt", ".ckpt", ".bin");

    /**
     * The file {@code <lora:NAME>} means: {@code dir/NAME.safetensors}, else the one
     * {@code NAME.safetensors} in a subfolder (A1111 finds LoRAs by file stem anywhere below its
     * Lora folder), else the same for {@code NAME.pt}, {@code NAME.ckpt} and {@code NAME.bin}.
     * Names are matched as stems only, so {@code ../x} cannot leave the folder.
     */
    public static Path find(Path dir, String name) {
        if (dir == null) {
            throw new JDiffusionException("<lora:" + name + "> names a LoRA, but no LoRA folder is set: pass --lora-dir DIR"
                    + " (GenerationRequest.loraDir) holding " + name + ".safetensors");
        }
        if (!Files.isDirectory(dir)) throw new JDiffusionException("the LoRA folder " + dir + " does not exist");
        List<Path> files;
        try (Stream<Path> walk = Files.walk(dir, MAX_DEPTH)) {
            files = walk.filter(p -> p.getFileName().toString().startsWith(name) && Files.isRegularFile(p)).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (String extension : EXTENSIONS) {
            String wanted = name + extension;
            List<Path> hits = files.stream().filter(p -> p.getFileName().toString().equals(wanted)).toList();
            if (hits.isEmpty()) continue;
            Path top = dir.resolve(wanted);
            if (hits.contains(top)) return top;
            if (hits.size() > 1) {
                throw new JDiffusionException("the LoRA name '" + name + "' is ambiguous: " + hits
                        + "; rename one of them");
            }
            return hits.getFirst();
        }
        throw new JDiffusionException("no LoRA named '" + name + "': none of " + name + "{"
                + String.join(",", EXTENSIONS) + "} is in " + dir + " or its subfolders");
    }

    /** True when {@code fileName} ends with one of {@link #EXTENSIONS} (any case). */
    public static boolean hasLoRAExtension(String fileName) {
        String lower = fileName.toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(lower::endsWith);
    }

    /**
     * The hash AUTOMATIC1111 writes into {@code Lora hashes}: for a safetensors file the first 12
     * hex digits of the SHA-256 of its tensor data, header excluded (the "addnet" hash of kohya's
     * sd-scripts, A1111 modules/hashes.py {@code addnet_hash_safetensors}, shortened as its
     * {@code shorthash}; excluding the header keeps the hash when only the metadata is edited); for
     * any other file (a pickle) those of the SHA-256 of the whole file, as A1111 hashes a network
     * whose name does not end in {@code .safetensors} ({@code use_addnet_hash=False}).
     */
    public static String shortHash(Path file) {
        boolean safetensors = file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (!safetensors) return sha256(ch, 0);
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            while (len.hasRemaining() && ch.read(len) >= 0) {
                // fill the 8-byte header length
            }
            len.flip();
            if (len.remaining() < 8) throw new JDiffusionException(file + " is too short to be a safetensors file");
            long dataStart = 8 + len.getLong();
            if (dataStart < 8 || dataStart > ch.size()) throw new JDiffusionException(file + " has a corrupt safetensors header");
            return sha256(ch, dataStart);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read LoRA " + file + " (" + e.getMessage() + ")", e);
        }
    }

    /** The first 12 hex digits of the SHA-256 of the bytes from {@code start} to the end. */
    private static String sha256(FileChannel ch, long start) throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        ch.position(start);
        while (ch.read(buf) > 0) {
            buf.flip();
            sha.update(buf);
            buf.clear();
        }
        return HexFormat.of().formatHex(sha.digest()).substring(0, 12);
    }
}
