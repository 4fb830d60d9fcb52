package jdiffusion.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.ThreadLocalRandom;
import jdiffusion.JDiffusionException;

/**
 * Writes an output next to its destination and moves it into place, so no half-written file is ever seen.
 *
 * <p>The temporary file (or folder) is created without explicit permissions, so it gets what any other
 * program's new file gets under the user's umask (0644 under umask 022). {@link Files#createTempFile}
 * would make it 0600, and the move would carry that mode to the output, even over an existing 0644 file.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    @FunctionalInterface
    public interface Writer {
        void writeTo(Path temporary) throws IOException;
    }

    public static void write(Path destination, Writer writer) {
        Path target = destination.toAbsolutePath();
        Path tmp = null;
        try {
            Files.createDirectories(target.getParent());
            tmp = createBeside(target, false);
            writer.writeTo(tmp);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + destination + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the original error matters more than a leftover temporary file
                }
            }
        }
    }

    /**
     * A new empty file or folder beside {@code target} (hidden, {@code .NAME.RANDOM.tmp}) with the
     * permissions the umask gives, for writers that move their result into place themselves.
     */
    public static Path createBeside(Path target, boolean folder) throws IOException {
        Path abs = target.toAbsolutePath();
        for (int attempt = 0; ; attempt++) {
            String random = Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36);
            Path tmp = abs.resolveSibling("." + abs.getFileName() + "." + random + ".tmp");
            try {
                return folder ? Files.createDirectory(tmp) : Files.createFile(tmp);
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 100) throw e;
            }
        }
    }
}
