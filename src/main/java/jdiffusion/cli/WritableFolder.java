package jdiffusion.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;

/** Finds an output folder that cannot be written before the work that would fill it, not after. */
final class WritableFolder {
    private WritableFolder() {}

    /** Creates (and deletes) a file in {@code folder}, or in its nearest existing ancestor when it is still to be made. */
    static void require(String option, Path folder) {
        Path existing = folder.toAbsolutePath();
        while (existing != null && !Files.exists(existing)) existing = existing.getParent();
        if (existing == null) return;
        if (!Files.isDirectory(existing)) {
            throw new JDiffusionException(option + ": " + existing + " is a file, so no folder can be made there");
        }
        try {
            Files.delete(AtomicFiles.createBeside(existing.resolve("write-check"), false));
        } catch (IOException e) {
            throw new JDiffusionException(option + ": cannot write into " + existing + " (" + e.getMessage() + ")");
        }
    }
}
