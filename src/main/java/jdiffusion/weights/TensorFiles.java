package jdiffusion.weights;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import jdiffusion.JDiffusionException;
import jdiffusion.io.RestrictedUnpickler;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.TorchCheckpoint;

/**
 * One file of named tensors, whatever it was saved as: a safetensors file or a PyTorch pickle
 * ({@code torch.save}'s zip or legacy format, read by {@link TorchCheckpoint} through
 * {@link RestrictedUnpickler}, so nothing in it runs). Embeddings and LoRAs are read through this,
 * so that both formats feed the same mapping and the same checks.
 *
 * <p>The format is told by the bytes, not the name: {@code learned_embeds.bin} files of either kind
 * exist, and a renamed file should not change what is read.
 */
public final class TensorFiles {
    /** How a file's tensors are stored. */
    public enum Format { SAFETENSORS, PICKLE }

    private TensorFiles() {}

    /**
     * The file's tensors under their names; the state dict owns the file and closes it. Tensors in
     * nested dictionaries of a pickle are named by their keys joined with '.'
     * ({@link TorchCheckpoint#openNested}).
     *
     * @throws JDiffusionException when the file is missing, is neither format, is damaged, or is
     *     a pickle that would run code
     */
    public static StateDict open(Path file) {
        return switch (format(file)) {
            case SAFETENSORS -> StateDict.of(SafetensorsFile.open(file));
            case PICKLE -> {
                TorchCheckpoint ckpt = TorchCheckpoint.openNested(file);
                yield StateDict.of(ckpt.tensors(), ckpt, file.toString());
            }
        };
    }

    /**
     * The one place that tells the formats apart, by the first bytes. Safetensors begins with an
     * 8-byte little-endian header length and a JSON object ('{' at byte 8); its first byte is the
     * length's low byte, which can be anything (0x80 too: one file in 256), so it is tested first.
     * A torch.save file begins with a zip header ("PK\3\4") or, in the legacy format, with a
     * pickle: PROTO (0x80) and a protocol number 2 to 5.
     *
     * @throws JDiffusionException for a missing file, a folder, a broken link, or bytes of neither format
     */
    public static Format format(Path file) {
        if (Files.isSymbolicLink(file) && !Files.exists(file)) {
            throw new JDiffusionException(file + " is a broken symbolic link (its target " + linkTarget(file)
                    + " is missing); the download is incomplete or the file was deleted");
        }
        if (Files.isDirectory(file)) throw new JDiffusionException(file + " is a folder, not a weights file");
        if (!Files.isRegularFile(file)) throw new JDiffusionException(file + ": file not found (it does not exist)");
        byte[] head = new byte[9];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read " + file + " (" + e.getMessage() + ")", e);
        }
        if (n == 9 && head[8] == '{') return Format.SAFETENSORS;
        boolean zip = n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
        boolean legacyPickle = n >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5;
        if (zip || legacyPickle) return Format.PICKLE;
        // Let the safetensors reader say what is wrong with a file that claims to be one.
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) return Format.SAFETENSORS;
        throw new JDiffusionException(file + " is neither a safetensors file nor a PyTorch pickle (.ckpt/.pt/.bin saved by"
                + " torch.save)" + (n < 9 ? "; it holds only " + n + (n == 1 ? " byte" : " bytes")
                : "; it is damaged, or something else under a weights file's name"));
    }

    private static String linkTarget(Path link) {
        try {
            return Files.readSymbolicLink(link).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return "?";
        }
    }
}
