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
     * Safetensors begins with an 8-byte header length and a JSON object ('{' at byte 8); a
     * torch.save file begins with a zip header ("PK\3\4") or, in the legacy format, with a pickle
     * (PROTO, 0x80). Safetensors is tested first: its length's low byte can be 0x80.
     */
    public static Format format(Path file) {
        if (!Files.isRegularFile(file)) throw new JDiffusionException(file + " does not exist or is not a file");
        byte[] head = new byte[9];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read " + file + " (" + e.getMessage() + ")", e);
        }
        if (n == 9 && head[8] == '{') return Format.SAFETENSORS;
        boolean zip = n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
        if (zip || n >= 1 && (head[0] & 0xff) == 0x80) return Format.PICKLE;
        // Let the safetensors reader say what is wrong with a file that claims to be one.
        if (file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) return Format.SAFETENSORS;
        throw new JDiffusionException(file + " is neither a safetensors file nor a PyTorch pickle (.pt/.bin/.ckpt saved by"
                + " torch.save)" + (n < 9 ? "; it holds only " + n + (n == 1 ? " byte" : " bytes") : ""));
    }
}
