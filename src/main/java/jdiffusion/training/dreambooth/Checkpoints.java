package jdiffusion.training.dreambooth;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;

/**
 * The {@code checkpoint-N} folders of a run's output folder, as accelerate's save_state names them
 * in train_dreambooth.py: N is the global step; {@code latest} is the highest N; with a total limit
 * the oldest are removed before a new one is saved so that at most that many remain. Each holds
 * {@link #STATE_FILE} (weights, AdamW moments, step: what the Trainer resumes from) and the trained
 * weights in the layout of the final output (unet/, text_encoder/ or pytorch_lora_weights.safetensors).
 */
public final class Checkpoints {
    public static final String STATE_FILE = "training_state.safetensors";
    private static final String PREFIX = "checkpoint-";

    private Checkpoints() {}

    /** The checkpoint folders of {@code outputDir}, by step. */
    public static List<Path> list(Path outputDir) {
        if (!Files.isDirectory(outputDir)) return List.of();
        try (Stream<Path> s = Files.list(outputDir)) {
            List<Path> out = new ArrayList<>(s.filter(Files::isDirectory)
                    .filter(p -> p.getFileName().toString().matches(PREFIX + "\\d+")).toList());
            out.sort(Comparator.comparingLong(Checkpoints::step));
            return out;
        } catch (IOException e) {
            throw new JDiffusionException("cannot list " + outputDir + ": " + e.getMessage(), e);
        }
    }

    /** N of {@code checkpoint-N}. */
    public static long step(Path checkpoint) {
        return Long.parseLong(checkpoint.getFileName().toString().substring(PREFIX.length()));
    }

    public static Path folder(Path outputDir, int step) {
        return outputDir.resolve(PREFIX + step);
    }

    /**
     * The checkpoint {@code spec} names: "latest" (null when there is none: the run starts afresh,
     * as in diffusers), or "checkpoint-N" in {@code outputDir}, which must exist and be complete.
     */
    public static Path find(Path outputDir, String spec) {
        Path found;
        if (spec.equals("latest")) {
            List<Path> all = list(outputDir);
            if (all.isEmpty()) return null;
            found = all.getLast();
        } else {
            found = outputDir.resolve(Path.of(spec).getFileName());
            if (!Files.isDirectory(found)) {
                throw new JDiffusionException("--resume-from-checkpoint " + spec + ": no such folder in " + outputDir
                        + "; the checkpoints there are " + list(outputDir).stream().map(p -> p.getFileName().toString()).toList());
            }
        }
        if (!Files.isRegularFile(found.resolve(STATE_FILE))) {
            throw new JDiffusionException(found + " holds no " + STATE_FILE + "; it was not written by jdiffusion dreambooth");
        }
        return found;
    }

    /** Removes the oldest checkpoints so that at most {@code limit - 1} remain (before saving one more). */
    public static List<Path> pruneBeforeSave(Path outputDir, int limit) {
        if (limit <= 0) return List.of();
        List<Path> all = list(outputDir);
        List<Path> removed = new ArrayList<>();
        for (int i = 0; i < all.size() - (limit - 1); i++) {
            deleteTree(all.get(i));
            removed.add(all.get(i));
        }
        return removed;
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        } catch (IOException e) {
            throw new JDiffusionException("cannot delete " + dir + ": " + e.getMessage(), e);
        }
    }
}
