package jdiffusion.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import jdiffusion.JDiffusionException;
import jdiffusion.io.RestrictedUnpickler.StorageRef;
import jdiffusion.io.RestrictedUnpickler.TensorRef;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;

/**
 * A PyTorch checkpoint ({@code torch.save}: {@code .ckpt}, {@code .pt}, {@code .bin}) read through
 * {@link RestrictedUnpickler}, memory-mapped, tensors handed out as views of the mapping.
 *
 * <p>Two formats (https://github.com/pytorch/pytorch/blob/v2.1.0/torch/serialization.py):
 * <ul>
 * <li>zip (torch 1.6 and later): {@code <name>/data.pkl} is the pickle, {@code <name>/data/<key>}
 *     holds storage {@code key}'s raw little-endian bytes, stored uncompressed (64-byte aligned);
 *     ZIP64 for files over 4 GB, which SD checkpoints are;</li>
 * <li>legacy: pickles in a row (magic number, protocol version 1001, system info, the object,
 *     the sorted storage keys), then each storage as an int64 element count and its bytes.</li>
 * </ul>
 * The object may be a state dict or a Lightning checkpoint whose {@code state_dict} holds it.
 */
public final class TorchCheckpoint implements AutoCloseable {
    private static final BigInteger LEGACY_MAGIC = new BigInteger("1950a86a20f9469cfc6c", 16);
    private static final long LEGACY_PROTOCOL = 1001;

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    /** Storage key to the byte offset of its data in the file. */
    private final Map<String, Long> storageOffsets;
    private final Map<String, StoredTensor> tensors;
    private final Long globalStep;

    private TorchCheckpoint(Path path, Arena arena, MemorySegment file, Map<String, Long> storageOffsets,
                            Map<String, TensorRef> refs, Long globalStep) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.storageOffsets = storageOffsets;
        this.globalStep = globalStep;
        Map<String, StoredTensor> sources = new LinkedHashMap<>();
        refs.forEach((name, ref) -> sources.put(name, new Source(ref)));
        this.tensors = sources;
    }

    public static TorchCheckpoint open(Path path) {
        return open(path, false);
    }

    /**
     * {@link #open}, where tensors inside nested dictionaries count too, named by their path of keys
     * joined with '.': AUTOMATIC1111's embeddings keep theirs as
     * {@code {'string_to_param': {'*': tensor}}}, which becomes {@code string_to_param.*} (the name
     * such a file flattened to safetensors has). Values that are not tensors (A1111's
     * {@code 'step': 500}, {@code 'name': 'style'}) are skipped, as are lists.
     */
    public static TorchCheckpoint openNested(Path path) {
        return open(path, true);
    }

    private static TorchCheckpoint open(Path path, boolean nested) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = ch.map(FileChannel.MapMode.READ_ONLY, 0, Files.size(path), arena);
            Map<String, Long> offsets = new HashMap<>();
            Object top = file.byteSize() >= 4 && file.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0) == 0x04034b50
                    ? readZip(path, file, offsets) : readLegacy(path, file, offsets);
            Map<String, TensorRef> refs = new LinkedHashMap<>();
            Long globalStep = flatten(path, top, refs, nested);
            return new TorchCheckpoint(path, arena, file, offsets, refs, globalStep);
        } catch (IOException e) {
            arena.close();
            throw new JDiffusionException(path + ": cannot read (" + e.getMessage() + ")", e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The tensors by state-dict name (views of the mapping, valid until {@link #close}). */
    public Map<String, StoredTensor> tensors() {
        return tensors;
    }

    /** {@code global_step} of a Lightning checkpoint, else null. */
    public Long globalStep() {
        return globalStep;
    }

    public Path path() {
        return path;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) arena.close();
    }

    // ---------------------------------------------------------------------------------------------

    /** Finds the state dict: the object itself, or (Lightning) the dictionary under "state_dict". */
    private static Long flatten(Path path, Object top, Map<String, TensorRef> out, boolean nested) {
        if (!(top instanceof Map<?, ?> dict)) {
            throw new JDiffusionException(path + " holds a pickled " + (top == null ? "None" : top.getClass().getSimpleName())
                    + ", not a state dict (a dictionary of tensors)");
        }
        Long globalStep = dict.get("global_step") instanceof Long l ? l : null;
        while (dict.get("state_dict") instanceof Map<?, ?> inner) dict = inner;
        collect(path, dict, "", out, nested ? MAX_NESTING : 0);
        if (out.isEmpty()) throw new JDiffusionException(path + " holds no tensors under string names; it is not a state dict");
        return globalStep;
    }

    /** Dictionaries deeper than this are not followed: a pickle can make a dictionary that holds itself. */
    private static final int MAX_NESTING = 8;

    private static void collect(Path path, Map<?, ?> dict, String prefix, Map<String, TensorRef> out, int depth) {
        for (Map.Entry<?, ?> e : dict.entrySet()) {
            if (!(e.getKey() instanceof String key)) continue;
            String name = prefix + key;
            if (e.getValue() instanceof TensorRef t) {
                if (out.putIfAbsent(name, t) != null) {
                    throw new JDiffusionException(path + ": two tensors are named '" + name + "' (a key with a dot and a"
                            + " nested dictionary); the file is ambiguous");
                }
            } else if (depth > 0 && e.getValue() instanceof Map<?, ?> inner) {
                collect(path, inner, name + ".", out, depth - 1);
            }
        }
    }

    private static Object readZip(Path path, MemorySegment file, Map<String, Long> offsets) {
        Map<String, ZipEntry> entries = ZipEntry.readDirectory(path, file);
        String pickleName = null;
        for (String name : entries.keySet()) {
            if (name.endsWith("/data.pkl") && name.indexOf('/') == name.length() - "/data.pkl".length()) {
                if (pickleName != null) throw new JDiffusionException(path + ": holds two pickles (" + pickleName + ", " + name + ")");
                pickleName = name;
            }
        }
        if (pickleName == null) {
            throw new JDiffusionException(path + " is a zip file without <name>/data.pkl, so not a PyTorch checkpoint");
        }
        String root = pickleName.substring(0, pickleName.length() - "data.pkl".length());
        ZipEntry byteorder = entries.get(root + "byteorder");
        if (byteorder != null && !"little".equals(new String(byteorder.bytes(path, file), StandardCharsets.US_ASCII).strip())) {
            throw new JDiffusionException(path + ": saved on a big-endian machine, which jdiffusion does not read");
        }
        byte[] pickle = entries.get(pickleName).bytes(path, file);
        return RestrictedUnpickler.load(pickle, path + " (" + pickleName + ")", (key, dtype, numel, location) -> {
            ZipEntry entry = entries.get(root + "data/" + key);
            if (entry == null) throw new JDiffusionException(path + ": storage '" + key + "' is missing from the archive");
            if (entry.method() != 0) {
                throw new JDiffusionException(path + ": storage '" + key + "' is compressed; torch.save stores storages "
                        + "uncompressed, so the file was repacked by another tool");
            }
            long bytes = byteSize(path, key, numel, dtype);
            if (entry.size() < bytes) {
                throw new JDiffusionException(path + ": storage '" + key + "' should hold " + numel + " " + dtype
                        + " values (" + bytes + " bytes) but has " + entry.size() + " bytes; the file is truncated or corrupt");
            }
            offsets.put(key, entry.dataOffset(path, file));
            return new StorageRef(key, dtype, numel, location);
        });
    }

    private static Object readLegacy(Path path, MemorySegment file, Map<String, Long> offsets) {
        String what = path + " (legacy torch.save format)";
        RestrictedUnpickler.Storages none = (k, d, n, l) -> {
            throw new JDiffusionException(what + ": unexpected storage in the header");
        };
        RestrictedUnpickler.Result magic = RestrictedUnpickler.load(file, 0, what, none);
        if (!(magic.value() instanceof BigInteger m) || !m.equals(LEGACY_MAGIC)) {
            throw new JDiffusionException(path + " starts with a pickle but not with torch's magic number: it is not a "
                    + "PyTorch checkpoint");
        }
        RestrictedUnpickler.Result protocol = RestrictedUnpickler.load(file, magic.end(), what, none);
        if (!Long.valueOf(LEGACY_PROTOCOL).equals(protocol.value())) {
            throw new JDiffusionException(what + ": protocol version " + protocol.value() + ", expected " + LEGACY_PROTOCOL);
        }
        RestrictedUnpickler.Result sysInfo = RestrictedUnpickler.load(file, protocol.end(), what, none);
        if (sysInfo.value() instanceof Map<?, ?> info && Boolean.FALSE.equals(info.get("little_endian"))) {
            throw new JDiffusionException(what + ": saved on a big-endian machine, which jdiffusion does not read");
        }
        Map<String, StorageRef> declared = new HashMap<>();
        RestrictedUnpickler.Result object = RestrictedUnpickler.load(file, sysInfo.end(), what, (key, dtype, numel, location) -> {
            StorageRef ref = new StorageRef(key, dtype, numel, location);
            StorageRef previous = declared.putIfAbsent(key, ref);
            if (previous != null && !previous.equals(ref)) throw new JDiffusionException(what + ": storage '" + key + "' declared twice");
            return ref;
        });
        RestrictedUnpickler.Result keys = RestrictedUnpickler.load(file, object.end(), what, none);
        if (!(keys.value() instanceof List<?> list)) throw new JDiffusionException(what + ": no list of storage keys after the object");
        long pos = keys.end();
        for (Object k : list) {
            StorageRef ref = k instanceof String s ? declared.get(s) : null;
            if (ref == null) throw new JDiffusionException(what + ": storage key " + k + " names no storage of the object");
            if (pos + 8 > file.byteSize()) throw new JDiffusionException(what + ": truncated before storage '" + ref.key() + "'");
            long numel = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos);
            if (numel != ref.numel()) {
                throw new JDiffusionException(what + ": storage '" + ref.key() + "' holds " + numel + " values, the object says " + ref.numel());
            }
            pos += 8;
            offsets.put(ref.key(), pos);
            long bytes = byteSize(path, ref.key(), numel, ref.dtype());
            if (bytes > file.byteSize() - pos) throw new JDiffusionException(what + ": truncated inside storage '" + ref.key() + "'");
            pos += bytes;
        }
        for (String key : declared.keySet()) {
            if (!offsets.containsKey(key)) throw new JDiffusionException(what + ": storage '" + key + "' has no data");
        }
        return object.value();
    }

    private static long byteSize(Path path, String key, long numel, DType dtype) {
        try {
            return Math.multiplyExact(numel, dtype.byteSize());
        } catch (ArithmeticException overflow) {
            throw new JDiffusionException(path + ": storage '" + key + "' claims " + numel + " values, more than any file holds");
        }
    }

    /** One tensor: a strided window onto a storage in the mapping. */
    private final class Source implements StoredTensor {
        private final TensorRef ref;

        Source(TensorRef ref) {
            this.ref = ref;
        }

        @Override
        public DType dtype() {
            return ref.storage().dtype();
        }

        @Override
        public long[] shape() {
            return ref.size();
        }

        @Override
        public Tensor view() {
            if (!arena.scope().isAlive()) throw new IllegalStateException(path + " is closed");
            StorageRef s = ref.storage();
            long address = file.address() + storageOffsets.get(s.key());
            long bytes = s.numel() * s.dtype().byteSize();
            TensorOptions options = new TensorOptions(s.dtype().scalarType());
            Tensor storage;
            if (bytes == 0 || address % s.dtype().byteSize() != 0) {
                // libtorch kernels assume aligned data; the legacy format does not align storages.
                storage = torch.empty(new long[] {s.numel()}, options, null);
                if (bytes > 0) {
                    MemorySegment.ofAddress(storage.data_ptr().address()).reinterpret(bytes)
                            .copyFrom(file.asSlice(address - file.address(), bytes));
                }
            } else {
                storage = torch.from_blob(new MappedPointer(address, bytes), new long[] {s.numel()}, options);
            }
            return storage.as_strided(ref.size(), ref.stride(), new org.bytedeco.pytorch.LongOptional(ref.offset()));
        }
    }

    /** A JavaCPP pointer onto memory the mapping owns. */
    private static final class MappedPointer extends Pointer {
        MappedPointer(long address, long bytes) {
            this.address = address;
            this.capacity = bytes;
            this.limit = bytes;
        }
    }

    // ---------------------------------------------------------------------------------------------

    /** One entry of a zip's central directory (https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT). */
    private record ZipEntry(String name, int method, long compressedSize, long size, long localHeader) {
        private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        static Map<String, ZipEntry> readDirectory(Path path, MemorySegment f) {
            long size = f.byteSize();
            // End of central directory: 22 bytes plus a comment of up to 65535.
            long eocd = -1;
            for (long p = size - 22; p >= Math.max(0, size - 22 - 65535); p--) {
                if (f.get(U32, p) == 0x06054b50) {
                    eocd = p;
                    break;
                }
            }
            if (eocd < 0) throw corrupt(path, "no end-of-central-directory record");
            long count = u16(f, eocd + 10);
            long cdSize = u32(f, eocd + 12);
            long cdOffset = u32(f, eocd + 16);
            if (count == 0xffff || cdSize == 0xffffffffL || cdOffset == 0xffffffffL) {
                long locator = eocd - 20;
                if (locator < 0 || f.get(U32, locator) != 0x07064b50) throw corrupt(path, "ZIP64 locator missing");
                long zip64 = f.get(U64, locator + 8);
                if (zip64 < 0 || zip64 + 56 > size || f.get(U32, zip64) != 0x06064b50) throw corrupt(path, "ZIP64 record missing");
                count = f.get(U64, zip64 + 32);
                cdSize = f.get(U64, zip64 + 40);
                cdOffset = f.get(U64, zip64 + 48);
            }
            if (cdOffset < 0 || cdSize < 0 || cdOffset + cdSize > size || count < 0 || count > cdSize / 46) {
                throw corrupt(path, "central directory outside the file");
            }
            Map<String, ZipEntry> entries = new LinkedHashMap<>();
            long p = cdOffset;
            for (long i = 0; i < count; i++) {
                if (p + 46 > cdOffset + cdSize || f.get(U32, p) != 0x02014b50) throw corrupt(path, "bad central directory entry " + i);
                int flags = u16(f, p + 8);
                int method = u16(f, p + 10);
                long compressed = u32(f, p + 20);
                long uncompressed = u32(f, p + 24);
                int nameLength = u16(f, p + 28);
                int extraLength = u16(f, p + 30);
                int commentLength = u16(f, p + 32);
                long local = u32(f, p + 42);
                if (p + 46 + nameLength + extraLength + commentLength > cdOffset + cdSize) throw corrupt(path, "entry " + i + " overruns");
                String name = new String(f.asSlice(p + 46, nameLength).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
                // ZIP64 extra field: 64-bit values for exactly those fields saturated above, in this order.
                long e = p + 46 + nameLength;
                long extraEnd = e + extraLength;
                while (e + 4 <= extraEnd) {
                    int id = u16(f, e);
                    int length = u16(f, e + 2);
                    if (id == 0x0001) {
                        long q = e + 4;
                        if (uncompressed == 0xffffffffL && q + 8 <= e + 4 + length) { uncompressed = f.get(U64, q); q += 8; }
                        if (compressed == 0xffffffffL && q + 8 <= e + 4 + length) { compressed = f.get(U64, q); q += 8; }
                        if (local == 0xffffffffL && q + 8 <= e + 4 + length) { local = f.get(U64, q); }
                    }
                    e += 4 + length;
                }
                if ((flags & 1) != 0) throw corrupt(path, name + " is encrypted");
                if (local < 0 || compressed < 0 || uncompressed < 0 || local + 30 > size) throw corrupt(path, name + " lies outside the file");
                entries.put(name, new ZipEntry(name, method, compressed, uncompressed, local));
                p += 46 + nameLength + extraLength + commentLength;
            }
            return entries;
        }

        long dataOffset(Path path, MemorySegment f) {
            if (f.get(U32, localHeader) != 0x04034b50) throw corrupt(path, "bad local header for " + name);
            long data = localHeader + 30 + u16(f, localHeader + 26) + u16(f, localHeader + 28);
            if (data + compressedSize > f.byteSize()) throw corrupt(path, name + " runs past the end of the file");
            return data;
        }

        byte[] bytes(Path path, MemorySegment f) {
            if (size > Integer.MAX_VALUE - 8 || compressedSize > Integer.MAX_VALUE - 8) throw corrupt(path, name + " is too large");
            byte[] raw = f.asSlice(dataOffset(path, f), compressedSize).toArray(ValueLayout.JAVA_BYTE);
            if (method == 0) return raw;
            if (method != 8) throw corrupt(path, name + " uses compression method " + method);
            Inflater inflater = new Inflater(true);
            try {
                inflater.setInput(raw);
                byte[] out = new byte[(int) size];
                int n = 0;
                while (n < out.length && !inflater.finished()) {
                    int got = inflater.inflate(out, n, out.length - n);
                    if (got == 0 && (inflater.needsInput() || inflater.needsDictionary())) break;
                    n += got;
                }
                if (n != out.length) throw corrupt(path, name + " inflates to " + n + " bytes, not " + size);
                return out;
            } catch (DataFormatException ex) {
                throw corrupt(path, name + " is not valid deflate data");
            } finally {
                inflater.end();
            }
        }

        private static int u16(MemorySegment f, long p) {
            return Short.toUnsignedInt(f.get(U16, p));
        }

        private static long u32(MemorySegment f, long p) {
            return Integer.toUnsignedLong(f.get(U32, p));
        }

        private static JDiffusionException corrupt(Path path, String problem) {
            return new JDiffusionException(path + ": damaged zip archive (" + problem + ")");
        }
    }
}
