package jdiffusion.checkpoint;

import java.nio.file.Path;
import java.util.Map;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.TorchCheckpoint;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.TensorFiles;

/**
 * The tensors of a checkpoint file under the names it stores them: safetensors, or a PyTorch
 * pickle (zip or legacy format, read by {@link TorchCheckpoint} without running it). The kind is
 * told by the file's first bytes ({@link TensorFiles#format}), not by its extension: {@code .ckpt}
 * files renamed to {@code .safetensors} (and the reverse) are common.
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
        if (TensorFiles.format(path) == TensorFiles.Format.PICKLE) {
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
