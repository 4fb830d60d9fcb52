package jdiffusion.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * A model's weights as its loader read them, opened again on demand: the same files under the same
 * names (the {@link StateDict}'s keys are the model's parameter names, converted on copy as the
 * loader converts them). A reversible LoRA merge restores the weights it changed from here instead
 * of keeping copies of them in memory (LCM-LoRA on SD 1.5: 278 weights, 1.7 GB in bf16).
 *
 * <pre>{@code
 * WeightSource unet = UNet2DConditionModel.weightSource(folder.resolve("unet"), null);
 * try (StateDict w = unet.open()) {
 *     liveWeight.copy_(w.view("conv_in.weight"));
 * }
 * }</pre>
 *
 * @param files  the files {@code opener} maps
 * @param opener opens them as a state dict; the caller closes it
 */
public record WeightSource(List<Path> files, Supplier<StateDict> opener) {
    public WeightSource {
        files = List.copyOf(files);
        Objects.requireNonNull(opener);
    }

    /** Opens the weights (mapped, not read); the caller closes them. */
    public StateDict open() {
        return opener.get();
    }

    /** The files as they are now: which file (inode), size and time; taken before {@link #open}. */
    public Stamp stamp() {
        List<FileState> states = new ArrayList<>();
        for (Path p : files) {
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                states.add(new FileState(p, a.fileKey(), a.size(), a.lastModifiedTime(), statusChanged(p)));
            } catch (IOException e) {
                states.add(new FileState(p, null, -1, null, null)); // unreadable now: open() will say why
            }
        }
        return new Stamp(states);
    }

    /** What a mapping of the files relies on. */
    public record Stamp(List<FileState> states) {
        /**
         * The first file written over in place since the stamp (the same file with another size or
         * time), or null. A mapping of it would now read other bytes, or fault on pages past a new
         * end. A file replaced (renamed over) or deleted is not: the mapping keeps the old one.
         */
        public Path rewrittenInPlace() {
            for (FileState s : states) {
                if (s.size() < 0) continue;
                BasicFileAttributes now;
                try {
                    now = Files.readAttributes(s.path(), BasicFileAttributes.class);
                } catch (IOException e) {
                    continue; // deleted: the mapping holds the old file
                }
                boolean sameFile = s.key() == null || s.key().equals(now.fileKey());
                FileTime changed = statusChanged(s.path());
                boolean written = now.size() != s.size() || !now.lastModifiedTime().equals(s.modified())
                        || (s.changed() != null && changed != null && !changed.equals(s.changed()));
                if (sameFile && written) return s.path();
            }
            return null;
        }
    }

    /**
     * One file at stamp time ({@code key}: the file system's identity of it, null where it has none;
     * {@code changed}: the inode's change time where the file system has one, which a rewrite that
     * puts the old modification time back, {@code rsync --inplace -t}, still moves).
     */
    public record FileState(Path path, Object key, long size, FileTime modified, FileTime changed) {}

    private static FileTime statusChanged(Path p) {
        try {
            return (FileTime) Files.getAttribute(p, "unix:ctime");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | ClassCastException e) {
            return null;
        }
    }
}
