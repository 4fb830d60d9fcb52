package jdiffusion.weights;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsFile;
import org.bytedeco.pytorch.Tensor;

/**
 * Named tensors as a checkpoint holds them: one safetensors file or the shards of one, read
 * through the mapping (no copy), under the key names a {@link KeyMap} gives them.
 *
 * <p>The views are valid until {@link #close}; {@link WeightLoader} copies them into a module.
 */
public final class StateDict implements AutoCloseable {
    /** Where one key's data lives. */
    private record Source(SafetensorsFile file, String fileKey) {}

    private final List<SafetensorsFile> files;
    private final Map<String, Source> entries;
    private final String description;

    private StateDict(List<SafetensorsFile> files, Map<String, Source> entries, String description) {
        this.files = files;
        this.entries = entries;
        this.description = description;
    }

    /** Opens one file or several shards; {@code keyMap} renames the file's keys to module names. */
    public static StateDict open(List<Path> paths, UnaryOperator<String> keyMap) {
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, Source> entries = new LinkedHashMap<>();
        try {
            for (Path p : paths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (String key : f.names()) {
                    String name = keyMap.apply(key);
                    if (name == null) continue; // the map drops keys that no module holds
                    Source previous = entries.put(name, new Source(f, key));
                    if (previous != null) {
                        throw new JDiffusionException("tensor '" + name + "' appears twice: in " + previous.file().path()
                                + " and in " + p + "; the checkpoint is inconsistent");
                    }
                }
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        String description = paths.size() == 1 ? paths.getFirst().toString()
                : paths.size() + " shards in " + paths.getFirst().getParent();
        return new StateDict(files, entries, description);
    }

    public static StateDict open(Path path) {
        return open(List.of(path), UnaryOperator.identity());
    }

    public Set<String> keys() {
        return Collections.unmodifiableSet(entries.keySet());
    }

    public boolean contains(String key) {
        return entries.containsKey(key);
    }

    public long[] shape(String key) {
        Source s = source(key);
        return s.file().info(s.fileKey()).shape();
    }

    public SafetensorsFile.TensorInfo info(String key) {
        Source s = source(key);
        return s.file().info(s.fileKey());
    }

    /** A read-only view of the mapped data; valid until {@link #close}. */
    public Tensor view(String key) {
        Source s = source(key);
        return s.file().view(s.fileKey());
    }

    /** Where the tensors come from, for error messages. */
    public String description() {
        return description;
    }

    private Source source(String key) {
        Source s = entries.get(key);
        if (s == null) throw new JDiffusionException(description + ": no tensor named '" + key + "'");
        return s;
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
