package jdiffusion.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.TorchCheckpoint;
import jdiffusion.weights.StateDict;

/**
 * The tensors of a checkpoint file under the names it stores them: safetensors, or a PyTorch
 * pickle (zip or legacy format, read by {@link TorchCheckpoint} without running it). The kind is
 * told by the file's first bytes, not by its extension: {@code .ckpt} files renamed to
 * {@code .safetensors} (and the reverse) are common.
 */
final class CheckpointFile implements AutoCloseable {
    private final StateDict tensors;
    private final Map<String, String> metadata;
    private final Long globalStep;

    private CheckpointFile(StateDict tensors, Map<String, String> metadata, Long globalStep) {
        this.tensors = tensors;
        this.metadata = metadata;
        this.globalStep = globalStep;
    }

    /** Tensors from elsewhere (tests feed shape-only sources to show detection never reads data). */
    static CheckpointFile of(StateDict tensors, Map<String, String> metadata, Long globalStep) {
        return new CheckpointFile(tensors, metadata, globalStep);
    }

    static CheckpointFile open(Path path) {
        byte[] head = new byte[4];
        int n;
        try (InputStream in = Files.newInputStream(path)) {
            n = in.readNBytes(head, 0, 4);
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(path + ": file not found");
        } catch (IOException e) {
            throw new JDiffusionException(path + ": cannot read (" + e.getMessage() + ")", e);
        }
        if (Files.isDirectory(path)) throw new JDiffusionException(path + " is a folder, not a checkpoint file");
        boolean zip = n == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
        boolean pickle = n >= 1 && (head[0] & 0xff) == 0x80; // pickle PROTO opcode: torch's legacy format
        if (zip || pickle) {
            TorchCheckpoint ckpt = TorchCheckpoint.open(path);
            return new CheckpointFile(StateDict.of(ckpt.tensors(), ckpt, path.toString()), Map.of(), ckpt.globalStep());
        }
        SafetensorsFile file = SafetensorsFile.open(path);
        return new CheckpointFile(StateDict.of(file), file.metadata(), null);
    }

    StateDict tensors() {
        return tensors;
    }

    /** safetensors {@code __metadata__} (empty for pickles). */
    Map<String, String> metadata() {
        return metadata;
    }

    /** A Lightning checkpoint's {@code global_step}, or null. */
    Long globalStep() {
        return globalStep;
    }

    @Override
    public void close() {
        tensors.close();
    }
}
