package jdiffusion.checkpoint;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;

/**
 * A folder written under a temporary name beside its destination and renamed into place when
 * complete, so a crash or an error never leaves a half-written model where a loader would find it.
 */
final class OutputFolder implements AutoCloseable {
    @FunctionalInterface
    interface Writer {
        void writeTo(Path folder) throws IOException;
    }

    private final Path target;
    private Path tmp;

    private OutputFolder(Path target, Path tmp) {
        this.target = target;
        this.tmp = tmp;
    }

    /** Builds the folder {@code out} (which must not exist yet) with {@code writer}; returns its absolute path. */
    static Path write(Path out, Writer writer) {
        Path target = out.toAbsolutePath().normalize();
        if (Files.exists(target)) throw new JDiffusionException(out + " already exists; choose a new folder (nothing is overwritten)");
        try {
            Files.createDirectories(target.getParent());
            try (OutputFolder folder = new OutputFolder(target,
                    AtomicFiles.createBeside(target, true))) {
                writer.writeTo(folder.tmp);
                folder.commit();
            }
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + out + ": " + e.getMessage(), e);
        }
        return target;
    }

    private void commit() throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target);
        }
        tmp = null;
    }

    /** Removes the temporary folder unless it was moved into place. */
    @Override
    public void close() {
        if (tmp == null) return;
        try (Stream<Path> walk = Files.walk(tmp)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException ignored) {
                    // best effort: the error that got us here matters more
                }
            });
        } catch (IOException ignored) {
            // best effort
        }
    }
}
