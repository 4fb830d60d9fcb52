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
import jdiffusion.io.DType;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.StoredTensor;
import org.bytedeco.pytorch.Tensor;

/**
 * Named tensors as a checkpoint holds them: one safetensors file or the shards of one, read
 * through the mapping (no copy), under the key names a {@link KeyMap} gives them. A state dict can
 * also be {@link #derive derived} from another one through {@link TensorTransform}s, which is how
 * a single-file checkpoint hands out its components under diffusers names.
 *
 * <p>The views are valid until {@link #close}; {@link WeightLoader} copies them into a module.
 */
public final class StateDict implements AutoCloseable {
    /**
     * One named tensor: its dtype and shape are known without touching the data (config detection
     * relies on that), the data is produced on demand by {@link #view}.
     */
    public interface Source extends StoredTensor {}

    /** A tensor stored in a safetensors file. */
    private record FileTensor(SafetensorsFile file, String fileKey) implements Source {
        @Override
        public DType dtype() {
            return file.info(fileKey).dtype();
        }

        @Override
        public long[] shape() {
            return file.info(fileKey).shape();
        }

        @Override
        public Tensor view() {
            return file.view(fileKey);
        }

        @Override
        public void evict() {
            file.evict(fileKey);
        }
    }

    private final List<? extends AutoCloseable> owned;
    private final Map<String, StoredTensor> entries;
    private final String description;

    private StateDict(List<? extends AutoCloseable> owned, Map<String, StoredTensor> entries, String description) {
        this.owned = owned;
        this.entries = Collections.unmodifiableMap(entries);
        this.description = description;
    }

    /** Opens one file or several shards; {@code keyMap} renames the file's keys to module names. */
    public static StateDict open(List<Path> paths, UnaryOperator<String> keyMap) {
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, StoredTensor> entries = new LinkedHashMap<>();
        Map<String, Path> origin = new LinkedHashMap<>();
        try {
            for (Path p : paths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (String key : f.names()) {
                    String name = keyMap.apply(key);
                    if (name == null) continue; // the map drops keys that no module holds
                    entries.put(name, new FileTensor(f, key));
                    Path previous = origin.put(name, p);
                    if (previous != null) {
                        throw new JDiffusionException("tensor '" + name + "' appears twice: in " + previous
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

    /** Every tensor of an open file under its own name; the state dict takes over the file and closes it. */
    public static StateDict of(SafetensorsFile file) {
        Map<String, StoredTensor> entries = new LinkedHashMap<>();
        for (String key : file.names()) entries.put(key, new FileTensor(file, key));
        return new StateDict(List.of(file), entries, file.path().toString());
    }

    /**
     * Tensors from any source (a pickle checkpoint, ...). {@code owner} is closed with the state
     * dict; pass null when the caller keeps the sources alive itself.
     */
    public static StateDict of(Map<String, ? extends StoredTensor> sources, AutoCloseable owner, String description) {
        return new StateDict(owner == null ? List.of() : List.of(owner), new LinkedHashMap<>(sources), description);
    }

    /**
     * These tensors, with {@code owner} closed when the result is closed (after this one's own
     * sources): a {@link #derive derived} state dict handed out alone, with the checkpoint it reads.
     */
    public StateDict closing(AutoCloseable owner) {
        List<AutoCloseable> all = new ArrayList<>(owned);
        all.add(owner);
        return new StateDict(all, entries, description);
    }

    /**
     * A state dict whose tensors are computed from this one's by {@code plan} (target name to
     * transform over this one's names). Shapes are checked now, data is read lazily; the result
     * does not own anything, so it is valid while this state dict is open.
     */
    public StateDict derive(Map<String, TensorTransform> plan, String description) {
        Map<String, StoredTensor> derived = new LinkedHashMap<>();
        for (Map.Entry<String, TensorTransform> e : plan.entrySet()) {
            TensorTransform t = e.getValue();
            for (String s : t.sources()) source(s); // fail now, naming the key, when a source is absent
            long[] shape = t.shape(this::shape);
            DType dtype = source(t.sources().getFirst()).dtype();
            for (String s : t.sources()) {
                if (source(s).dtype() != dtype) {
                    throw new JDiffusionException(this.description + ": '" + e.getKey() + "' is built from tensors of "
                            + "different dtypes (" + t.sources() + ")");
                }
            }
            derived.put(e.getKey(), new Derived(t, shape, dtype, this));
        }
        return new StateDict(List.of(), derived, description);
    }

    private record Derived(TensorTransform transform, long[] shape, DType dtype, StateDict base) implements Source {
        @Override
        public Tensor view() {
            return transform.apply(base::view);
        }

        @Override
        public void evict() {
            for (String s : transform.sources()) base.evict(s);
        }
    }

    /**
     * Tells the OS that {@code key}'s bytes will not be read again soon: their mapped pages leave
     * the resident set (they stay valid and are read again from the file if needed). Called after
     * each copy while loading, so that a model and its file are never resident whole at once.
     */
    public void evict(String key) {
        source(key).evict();
    }

    public Set<String> keys() {
        return entries.keySet();
    }

    public boolean contains(String key) {
        return entries.containsKey(key);
    }

    public long[] shape(String key) {
        return source(key).shape().clone();
    }

    public DType dtype(String key) {
        return source(key).dtype();
    }

    /**
     * The header entry of a tensor: dtype and shape. For a file tensor {@code begin/end} are its
     * offsets in the file's data area; for other sources they are 0 and the byte size.
     */
    public SafetensorsFile.TensorInfo info(String key) {
        StoredTensor s = source(key);
        if (s instanceof FileTensor f) return f.file().info(f.fileKey());
        long bytes = s.dtype().byteSize();
        for (long d : s.shape()) bytes *= d;
        return new SafetensorsFile.TensorInfo(key, s.dtype(), s.shape(), 0, bytes);
    }

    /** A read-only view of the mapped data (or a tensor computed from it); valid until {@link #close}. */
    public Tensor view(String key) {
        return source(key).view();
    }

    /** Where the tensors come from, for error messages. */
    public String description() {
        return description;
    }

    private StoredTensor source(String key) {
        StoredTensor s = entries.get(key);
        if (s == null) throw new JDiffusionException(description + ": no tensor named '" + key + "'");
        return s;
    }

    @Override
    public void close() {
        RuntimeException failure = null;
        for (AutoCloseable c : owned) {
            try {
                c.close();
            } catch (Exception e) {
                if (failure == null) failure = e instanceof RuntimeException r ? r : new IllegalStateException(e);
            }
        }
        if (failure != null) throw failure;
    }
}
