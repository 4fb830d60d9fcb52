package jdiffusion.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jdiffusion.JDiffusionException;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A safetensors file, memory-mapped (files over 2 GiB included) and validated before any of it is
 * trusted. Format: 8-byte little-endian header length N, N bytes of JSON, then the data area that
 * the JSON's {@code data_offsets} index. See https://github.com/huggingface/safetensors.
 *
 * <p>{@link #view} hands out tensors that alias the mapping (no copy); they are valid until
 * {@link #close}. {@link #load} copies once, converting the dtype on the way when asked.
 *
 * <pre>{@code
 * try (var file = SafetensorsFile.open(Path.of("unet/diffusion_pytorch_model.safetensors"))) {
 *     Tensor w = file.load("conv_in.weight", ScalarType.Float);
 * }
 * }</pre>
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The safetensors reference refuses headers above 100 MB; so do we, before allocating. */
    static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /** One tensor's entry in the header. Offsets are relative to the start of the data area. */
    public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        public long byteSize() {
            return end - begin;
        }
    }

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, MemorySegment data,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and validates {@code path}; throws {@link JDiffusionException} naming the file and the problem. */
    public static SafetensorsFile open(Path path) {
        long size;
        try {
            size = Files.size(path);
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(path + ": file not found");
        } catch (IOException e) {
            throw new JDiffusionException(path + ": cannot read (" + e.getMessage() + ")", e);
        }
        if (Files.isDirectory(path)) {
            throw new JDiffusionException(path + ": is a folder, not a safetensors file");
        }
        if (size < 8) {
            throw bad(path, "file is " + size + " bytes, too short to hold the 8-byte header length");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment whole = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLength = whole.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLength < 2 || headerLength > size - 8) {
                throw bad(path, "header length " + Long.toUnsignedString(headerLength) + " does not fit in the file of "
                        + size + " bytes; the file is truncated or not a safetensors file");
            }
            if (headerLength > MAX_HEADER_BYTES) {
                throw bad(path, "header length " + headerLength + " exceeds the " + MAX_HEADER_BYTES
                        + "-byte limit; not a safetensors file");
            }
            byte[] header = whole.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = whole.asSlice(8 + headerLength);
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = parseHeader(path, header, data.byteSize(), metadata);
            return new SafetensorsFile(path, arena, data, tensors, metadata);
        } catch (IOException e) {
            arena.close();
            throw new JDiffusionException(path + ": cannot map the file (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, TensorInfo> parseHeader(Path path, byte[] header, long dataSize,
                                                       Map<String, String> metadata) {
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8).stripTrailing());
        } catch (JsonProcessingException e) {
            throw bad(path, "header is not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw bad(path, "header is not a JSON object");
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode node = e.getValue();
            if (name.equals("__metadata__")) {
                readMetadata(path, node, metadata);
                continue;
            }
            tensors.put(name, readTensorInfo(path, name, node, dataSize));
        }
        checkNoOverlaps(path, tensors);
        return Collections.unmodifiableMap(tensors);
    }

    private static void readMetadata(Path path, JsonNode node, Map<String, String> metadata) {
        if (!node.isObject()) {
            throw bad(path, "__metadata__ must be a JSON object of strings");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw bad(path, "__metadata__ value for '" + m.getKey() + "' is not a string");
            }
            metadata.put(m.getKey(), m.getValue().asText());
        }
    }

    private static TensorInfo readTensorInfo(Path path, String name, JsonNode node, long dataSize) {
        if (!node.isObject()) {
            throw bad(path, "entry for tensor '" + name + "' is not a JSON object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw bad(path, "tensor '" + name + "' has no dtype string");
        }
        DType dtype = DType.fromSafetensorsName(dtypeNode.asText());
        if (dtype == null) {
            throw bad(path, "tensor '" + name + "' has dtype '" + dtypeNode.asText()
                    + "', which is not one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL");
        }
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw bad(path, "tensor '" + name + "' has no shape array");
        }
        long[] shape = new long[shapeNode.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw bad(path, "tensor '" + name + "' has an invalid dimension " + d + " in its shape");
            }
            shape[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException overflow) {
                throw bad(path, "tensor '" + name + "' has a shape " + shapeNode + " too large to exist");
            }
        }
        JsonNode offsets = node.get("data_offsets");
        if (offsets == null || !offsets.isArray() || offsets.size() != 2
                || !offsets.get(0).isIntegralNumber() || !offsets.get(1).isIntegralNumber()
                || !offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong()) {
            throw bad(path, "tensor '" + name + "' needs data_offsets [begin, end] as two integers");
        }
        long begin = offsets.get(0).asLong();
        long end = offsets.get(1).asLong();
        if (begin < 0 || end < begin || end > dataSize) {
            throw bad(path, "tensor '" + name + "' has data_offsets [" + begin + ", " + end
                    + "] outside the data area of " + dataSize + " bytes; the file is truncated or corrupt");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException overflow) {
            throw bad(path, "tensor '" + name + "' has a shape " + shapeNode + " too large to exist");
        }
        if (end - begin != expected) {
            throw bad(path, "tensor '" + name + "' (" + dtype + " " + shapeNode + ") needs " + expected
                    + " bytes but its data_offsets span " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static void checkNoOverlaps(Path path, Map<String, TensorInfo> tensors) {
        List<TensorInfo> sorted = new ArrayList<>(tensors.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        TensorInfo previous = null;
        for (TensorInfo t : sorted) {
            if (t.byteSize() == 0) continue;
            if (previous != null && t.begin() < previous.end()) {
                throw bad(path, "tensors '" + previous.name() + "' and '" + t.name() + "' overlap in the data area");
            }
            previous = t;
        }
    }

    private static JDiffusionException bad(Path path, String problem) {
        return new JDiffusionException(path + ": not a valid safetensors file: " + problem);
    }

    public Path path() {
        return path;
    }

    /** Tensor names in header order. */
    public Set<String> names() {
        return tensors.keySet();
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public Map<String, TensorInfo> infos() {
        return tensors;
    }

    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new JDiffusionException(path + ": no tensor named '" + name + "'");
        }
        return info;
    }

    /** The {@code __metadata__} map (empty when absent). */
    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    /**
     * A CPU tensor that aliases the mapped bytes (no copy), valid until {@link #close}. It is
     * read-only memory: never write into it. A tensor whose data is not aligned to its element
     * size is copied instead, because libtorch kernels assume alignment.
     */
    public Tensor view(String name) {
        TensorInfo info = info(name);
        ensureOpen();
        long address = data.address() + info.begin();
        TensorOptions options = new TensorOptions(info.dtype().scalarType());
        if (info.byteSize() == 0 || address % info.dtype().byteSize() != 0) {
            Tensor out = torch.empty(info.shape(), options, null);
            if (info.byteSize() > 0) {
                MemorySegment.ofAddress(out.data_ptr().address()).reinterpret(info.byteSize())
                        .copyFrom(data.asSlice(info.begin(), info.byteSize()));
            }
            return out;
        }
        return torch.from_blob(new MappedPointer(address, info.byteSize()), info.shape(), options);
    }

    /**
     * Drops {@code name}'s mapped pages from this process's resident memory (madvise DONTNEED on a
     * read-only mapping: the bytes stay readable and come back from the file if read again).
     * Pages shared with neighbouring tensors go too; reading those again costs one page fault.
     */
    public void evict(String name) {
        TensorInfo info = info(name);
        ensureOpen();
        if (info.byteSize() > 0 && data.isMapped()) data.asSlice(info.begin(), info.byteSize()).unload();
    }

    /** A tensor of its own (one copy), converted to {@code dtype} when that differs from the file's. */
    public Tensor load(String name, ScalarType dtype) {
        Tensor view = view(name);
        return view.scalar_type().value == dtype.value ? view.clone() : view.to(dtype);
    }

    /** A tensor of its own in the file's dtype. */
    public Tensor load(String name) {
        return view(name).clone();
    }

    private void ensureOpen() {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException(path + " is closed");
        }
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    /** A JavaCPP pointer onto memory that someone else owns (the mapping). */
    private static final class MappedPointer extends Pointer {
        MappedPointer(long address, long bytes) {
            this.address = address;
            this.capacity = bytes;
            this.limit = bytes;
        }
    }
}
