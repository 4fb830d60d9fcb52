package jdiffusion.io;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;

/**
 * Reads a Python pickle as data and never as code. A pickle is a program for a small stack
 * machine whose GLOBAL and REDUCE instructions import and call any Python function, which is how
 * a {@code .ckpt} can run {@code os.system}. This machine knows the handful of globals a PyTorch
 * state dict needs and builds plain Java values for them; every other global is refused before
 * anything is built, with its name in the message. Nothing is ever looked up by name, loaded or
 * invoked: the "callables" below are enum constants interpreted here.
 *
 * <p>Accepted globals: {@code torch._utils._rebuild_tensor_v2} (a tensor: a window onto a storage),
 * {@code torch._utils._rebuild_parameter} (an nn.Parameter: its tensor), {@code collections.OrderedDict},
 * the {@code torch.*Storage} types (as persistent-id tags), and
 * {@code pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint} as an inert name only: older
 * Lightning checkpoints (the original SD 1.x {@code .ckpt} files) use that class as a dictionary
 * key, and calling it is refused. AUTOMATIC1111's {@code modules/safe.py} accepts the same set, plus
 * numpy, which is not needed for state dicts.
 *
 * <p>Values: None is null, bool Boolean, int Long (BigInteger beyond 64 bits), float Double, str
 * String, bytes byte[], list ArrayList, tuple {@link Tuple}, dict LinkedHashMap, tensors
 * {@link TensorRef}. Opcodes: the binary ones of protocols 2 to 4 (torch.save writes protocol 2);
 * protocol 0/1 text opcodes are refused as unsupported.
 */
public final class RestrictedUnpickler {
    /** A Python tuple: unlike a list it can be a dictionary key. */
    public record Tuple(List<Object> items) {
        public Tuple {
            items = Collections.unmodifiableList(new ArrayList<>(items));
        }
    }

    /** A storage held outside the pickle (torch's persistent id): its key, element type and length. */
    public record StorageRef(String key, DType dtype, long numel, String location) {}

    /**
     * {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, ...)}: a tensor is a strided
     * window onto a storage, in elements. Bounds are checked against the storage when it is built.
     */
    public record TensorRef(StorageRef storage, long offset, long[] size, long[] stride) {
        public long[] size() {
            return size.clone();
        }

        public long[] stride() {
            return stride.clone();
        }
    }

    /**
     * A pickle refused because it would run code (a global other than the accepted ones, an object
     * of an arbitrary class, a BUILD): nothing was built or run. Its own type so that the readers
     * of embeddings and LoRAs can add how to convert their kind of file.
     */
    public static final class RefusedException extends JDiffusionException {
        private final String refusal;

        RefusedException(String message, String refusal) {
            super(message);
            this.refusal = refusal;
        }

        /** What the pickle would have done, e.g. {@code calls os.system}. */
        public String refusal() {
            return refusal;
        }
    }

    /** Where a persistent id's storage lives; the checkpoint reader validates it. */
    @FunctionalInterface
    public interface Storages {
        StorageRef storage(String key, DType dtype, long numel, String location);
    }

    /** The interpretable globals; anything else never gets past {@link #global}. */
    private enum Callable { ORDERED_DICT, REBUILD_TENSOR_V2, REBUILD_PARAMETER }

    private record StorageType(DType dtype, String name) {}

    /** A class allowed as a value (a dictionary key) but never as something to call. */
    private record InertGlobal(String name) {}

    private static final Map<String, DType> STORAGE_TYPES = Map.ofEntries(
            Map.entry("FloatStorage", DType.F32), Map.entry("HalfStorage", DType.F16),
            Map.entry("BFloat16Storage", DType.BF16), Map.entry("DoubleStorage", DType.F64),
            Map.entry("LongStorage", DType.I64), Map.entry("IntStorage", DType.I32),
            Map.entry("ShortStorage", DType.I16), Map.entry("CharStorage", DType.I8),
            Map.entry("ByteStorage", DType.U8), Map.entry("BoolStorage", DType.BOOL));

    private static final Object MARK = new Object() {
        @Override
        public String toString() {
            return "MARK";
        }
    };

    /** A loaded value and where the pickle ended (files can hold several pickles in a row). */
    public record Result(Object value, long end) {}

    private final MemorySegment data;
    private final String source;
    private final Storages storages;
    private long pos;
    private final List<Object> stack = new ArrayList<>();
    private final Deque<Integer> marks = new ArrayDeque<>();
    private final Map<Long, Object> memo = new HashMap<>();

    private RestrictedUnpickler(MemorySegment data, long start, String source, Storages storages) {
        this.data = data;
        this.pos = start;
        this.source = source;
        this.storages = storages;
    }

    /** Reads the pickle that starts at {@code start}; {@code source} names it in errors. */
    public static Result load(MemorySegment data, long start, String source, Storages storages) {
        RestrictedUnpickler u = new RestrictedUnpickler(data, start, source, storages);
        Object value = u.run();
        return new Result(value, u.pos);
    }

    public static Object load(byte[] pickle, String source, Storages storages) {
        return load(MemorySegment.ofArray(pickle), 0, source, storages).value();
    }

    private Object run() {
        while (true) {
            int op = u8();
            switch (op) {
                case 0x80 -> { // PROTO
                    int protocol = u8();
                    if (protocol > 5) throw bad("protocol " + protocol + " is newer than pickle knows");
                }
                case 0x95 -> { // FRAME: a length hint, the frame's opcodes follow inline
                    long length = i64();
                    if (length < 0 || length > remaining()) throw bad("frame of " + length + " bytes runs past the end");
                }
                case '.' -> { // STOP
                    if (stack.size() != 1 || !marks.isEmpty()) throw bad("STOP with " + stack.size() + " values on the stack");
                    return stack.getFirst();
                }
                case 'N' -> push(null);
                case 0x88 -> push(Boolean.TRUE);
                case 0x89 -> push(Boolean.FALSE);
                case 'J' -> push((long) i32());
                case 'K' -> push((long) u8());
                case 'M' -> push((long) u16());
                case 0x8a -> push(longN(u8()));
                case 0x8b -> push(longN(length(i32())));
                case 'G' -> push(Double.longBitsToDouble(Long.reverseBytes(i64()))); // big-endian IEEE double
                case 'X' -> push(utf8(length(i32())));
                case 0x8c -> push(utf8(u8()));
                case 0x8d -> push(utf8(length(i64())));
                case 'T' -> push(latin1(length(i32())));
                case 'U' -> push(latin1(u8()));
                case 'B' -> push(bytes(length(i32())));
                case 'C' -> push(bytes(u8()));
                case 0x8e -> push(bytes(length(i64())));
                case '}' -> push(new LinkedHashMap<>());
                case ']' -> push(new ArrayList<>());
                case ')' -> push(new Tuple(List.of()));
                case '(' -> {
                    marks.push(stack.size());
                    stack.add(MARK);
                }
                case 't' -> push(new Tuple(popMark()));
                case 0x85 -> push(new Tuple(List.of(pop())));
                case 0x86 -> {
                    Object b = pop();
                    Object a = pop();
                    push(new Tuple(Arrays.asList(a, b)));
                }
                case 0x87 -> {
                    Object c = pop();
                    Object b = pop();
                    Object a = pop();
                    push(new Tuple(Arrays.asList(a, b, c)));
                }
                case 'l' -> push(new ArrayList<>(popMark()));
                case 'd' -> {
                    List<Object> items = popMark();
                    Map<Object, Object> map = new LinkedHashMap<>();
                    putAll(map, items);
                    push(map);
                }
                case 'a' -> {
                    Object value = pop();
                    list(peek()).add(value);
                }
                case 'e' -> {
                    List<Object> items = popMark();
                    list(peek()).addAll(items);
                }
                case 's' -> {
                    Object value = pop();
                    Object key = pop();
                    dict(peek()).put(checkKey(key), value);
                }
                case 'u' -> {
                    List<Object> items = popMark();
                    putAll(dict(peek()), items);
                }
                case 'q' -> memo.put((long) u8(), peek());
                case 'r' -> memo.put(i32() & 0xffffffffL, peek());
                case 0x94 -> memo.put((long) memo.size(), peek()); // MEMOIZE
                case 'h' -> push(memoGet(u8()));
                case 'j' -> push(memoGet(i32() & 0xffffffffL));
                case '0' -> pop(); // POP
                case '2' -> push(peek()); // DUP
                case '1' -> popMark(); // POP_MARK
                case 'c' -> push(global(line(), line()));
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop();
                    Object module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n)) throw bad("STACK_GLOBAL without two strings");
                    push(global(m, n));
                }
                case 'R' -> {
                    Object args = pop();
                    Object callable = pop();
                    push(reduce(callable, args));
                }
                case 'b' -> build();
                case 'Q' -> push(persistent(pop()));
                case 0x81, 0x92, 'i', 'o' -> throw refused("creates an object of an arbitrary class (opcode "
                        + opName(op) + ")");
                case 0x82, 0x83, 0x84 -> throw refused("imports a global through the copyreg extension registry");
                default -> throw bad("opcode " + opName(op) + " at byte " + (pos - 1)
                        + " is not one jdiffusion reads (only the binary opcodes of protocols 2-4)");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The only places where a pickle could reach code: GLOBAL, REDUCE, BUILD and persistent ids.

    private Object global(String module, String name) {
        String full = module + "." + name;
        switch (full) {
            case "collections.OrderedDict" -> { return Callable.ORDERED_DICT; }
            case "torch._utils._rebuild_tensor_v2" -> { return Callable.REBUILD_TENSOR_V2; }
            case "torch._utils._rebuild_parameter" -> { return Callable.REBUILD_PARAMETER; }
            case "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint" -> { return new InertGlobal(full); }
            default -> { }
        }
        if (module.equals("torch") && STORAGE_TYPES.containsKey(name)) return new StorageType(STORAGE_TYPES.get(name), full);
        throw refused("calls " + full);
    }

    private Object reduce(Object callable, Object args) {
        if (!(callable instanceof Callable c)) {
            throw refused("calls " + describe(callable) + " with arguments " + describe(args));
        }
        List<Object> a = tuple(args, c.name()).items();
        return switch (c) {
            case ORDERED_DICT -> {
                Map<Object, Object> map = new LinkedHashMap<>();
                if (a.size() == 1 && a.getFirst() instanceof List<?> pairs) { // OrderedDict([(k, v), ...])
                    for (Object pair : pairs) {
                        List<Object> kv = tuple(pair, "OrderedDict item").items();
                        if (kv.size() != 2) throw bad("OrderedDict item of " + kv.size() + " values");
                        map.put(checkKey(kv.get(0)), kv.get(1));
                    }
                } else if (!a.isEmpty()) {
                    throw bad("OrderedDict called with " + describe(args));
                }
                yield map;
            }
            case REBUILD_TENSOR_V2 -> rebuildTensor(a);
            case REBUILD_PARAMETER -> {
                if (a.size() < 1 || !(a.getFirst() instanceof TensorRef t)) throw bad("_rebuild_parameter without a tensor");
                yield t; // the Parameter wrapper (requires_grad, hooks) does not matter for weights
            }
        };
    }

    /** {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])}. */
    private TensorRef rebuildTensor(List<Object> a) {
        if (a.size() < 4 || !(a.get(0) instanceof StorageRef storage) || !(a.get(1) instanceof Long offset)) {
            throw bad("_rebuild_tensor_v2 needs (storage, offset, size, stride, ...), got " + describe(new Tuple(a)));
        }
        long[] size = longs(a.get(2), "size");
        long[] stride = longs(a.get(3), "stride");
        if (size.length != stride.length) throw bad("tensor size " + Arrays.toString(size) + " and stride " + Arrays.toString(stride) + " differ in rank");
        // A tensor must stay inside its storage: the reader maps file bytes, so a window reaching
        // past them would read memory that is not the checkpoint's.
        if (offset < 0) throw bad("negative storage offset " + offset);
        long last = offset;
        boolean empty = false;
        try {
            for (int i = 0; i < size.length; i++) {
                if (size[i] < 0 || stride[i] < 0) throw bad("negative size or stride in " + Arrays.toString(size) + "/" + Arrays.toString(stride));
                if (size[i] == 0) empty = true;
                else last = Math.addExact(last, Math.multiplyExact(size[i] - 1, stride[i]));
            }
        } catch (ArithmeticException overflow) {
            throw bad("tensor of size " + Arrays.toString(size) + " overflows");
        }
        if (!empty && last >= storage.numel()) {
            throw bad("a tensor of size " + Arrays.toString(size) + ", stride " + Arrays.toString(stride) + " at offset " + offset
                    + " reaches element " + last + " of storage '" + storage.key() + "', which holds " + storage.numel());
        }
        return new TensorRef(storage, offset, size, stride);
    }

    /** BUILD sets an object's state. Only an OrderedDict's is accepted: torch state dicts carry a
     *  {@code _metadata} attribute (module versions) that weights do not need. */
    private void build() {
        Object state = pop();
        Object target = peek();
        if (!(target instanceof Map<?, ?>)) {
            throw refused("sets the state of " + describe(target) + " (BUILD), which would run its __setstate__");
        }
        if (state != null && !(state instanceof Map<?, ?>) && !(state instanceof Tuple)) {
            throw bad("BUILD on a dictionary with state " + describe(state));
        }
    }

    /** torch's persistent id: {@code ('storage', storage_type, key, location, numel[, view_metadata])}. */
    private StorageRef persistent(Object pid) {
        List<Object> p = tuple(pid, "persistent id").items();
        if (p.size() < 5 || !"storage".equals(p.get(0)) || !(p.get(1) instanceof StorageType type)
                || !(p.get(2) instanceof String key) || !(p.get(3) instanceof String location) || !(p.get(4) instanceof Long numel)) {
            throw bad("persistent id " + describe(pid) + " is not a torch storage reference");
        }
        if (p.size() > 5 && p.get(5) != null) {
            throw bad("storage '" + key + "' is a view of another storage (torch < 1.0 format), which jdiffusion does not read");
        }
        if (numel < 0) throw bad("storage '" + key + "' has negative length " + numel);
        return storages.storage(key, type.dtype(), numel, location);
    }

    // ---------------------------------------------------------------------------------------------

    private void putAll(Map<Object, Object> map, List<Object> items) {
        if (items.size() % 2 != 0) throw bad("dictionary items come in pairs, got " + items.size() + " values");
        for (int i = 0; i < items.size(); i += 2) map.put(checkKey(items.get(i)), items.get(i + 1));
    }

    private Object checkKey(Object key) {
        if (key instanceof List<?> || key instanceof Map<?, ?>) throw bad("unhashable dictionary key " + describe(key));
        return key;
    }

    private long[] longs(Object value, String what) {
        List<Object> items = tuple(value, what).items();
        long[] out = new long[items.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(items.get(i) instanceof Long l)) throw bad("tensor " + what + " holds " + describe(items.get(i)));
            out[i] = l;
        }
        return out;
    }

    private Tuple tuple(Object value, String what) {
        if (value instanceof Tuple t) return t;
        throw bad(what + " expects a tuple, got " + describe(value));
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object value) {
        if (value instanceof List<?> l) return (List<Object>) l;
        throw bad("APPEND to " + describe(value) + ", not a list");
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> dict(Object value) {
        if (value instanceof Map<?, ?> m) return (Map<Object, Object>) m;
        throw bad("SETITEM on " + describe(value) + ", not a dictionary");
    }

    private void push(Object value) {
        stack.add(value);
    }

    private Object pop() {
        if (stack.isEmpty() || stack.getLast() == MARK) throw bad("stack underflow at byte " + pos);
        return stack.removeLast();
    }

    private Object peek() {
        if (stack.isEmpty() || stack.getLast() == MARK) throw bad("stack underflow at byte " + pos);
        return stack.getLast();
    }

    private List<Object> popMark() {
        if (marks.isEmpty()) throw bad("no MARK to pop to at byte " + pos);
        int at = marks.pop();
        List<Object> items = new ArrayList<>(stack.subList(at + 1, stack.size()));
        stack.subList(at, stack.size()).clear();
        return items;
    }

    private Object memoGet(long index) {
        if (!memo.containsKey(index)) throw bad("memo entry " + index + " read before it was written");
        return memo.get(index);
    }

    private int u8() {
        need(1);
        return data.get(ValueLayout.JAVA_BYTE, pos++) & 0xff;
    }

    private int u16() {
        need(2);
        int v = Short.toUnsignedInt(data.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos));
        pos += 2;
        return v;
    }

    private int i32() {
        need(4);
        int v = data.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos);
        pos += 4;
        return v;
    }

    private long i64() {
        need(8);
        long v = data.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos);
        pos += 8;
        return v;
    }

    private int length(long n) {
        if (n < 0 || n > remaining() || n > Integer.MAX_VALUE - 8) throw bad("a length of " + n + " runs past the end of the data");
        return (int) n;
    }

    private byte[] bytes(int n) {
        need(n);
        byte[] out = data.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
        pos += n;
        return out;
    }

    private String utf8(int n) {
        return new String(bytes(n), StandardCharsets.UTF_8);
    }

    private String latin1(int n) {
        return new String(bytes(n), StandardCharsets.ISO_8859_1);
    }

    /** A newline-terminated ASCII argument of GLOBAL. */
    private String line() {
        StringBuilder sb = new StringBuilder();
        while (true) {
            int c = u8();
            if (c == '\n') return sb.toString();
            if (sb.length() > 256) throw bad("GLOBAL name longer than 256 characters");
            sb.append((char) c);
        }
    }

    /** LONG1/LONG4: little-endian two's complement; Long when it fits. */
    private Object longN(int n) {
        if (n > 64) throw bad("integer of " + n + " bytes");
        byte[] le = bytes(n);
        if (n == 0) return 0L;
        byte[] be = new byte[n];
        for (int i = 0; i < n; i++) be[i] = le[n - 1 - i];
        BigInteger v = new BigInteger(be);
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    private long remaining() {
        return data.byteSize() - pos;
    }

    private void need(long n) {
        if (n > remaining()) throw bad("the pickle ends early (byte " + pos + " of " + data.byteSize() + ")");
    }

    private JDiffusionException bad(String problem) {
        return new JDiffusionException(source + ": not a readable PyTorch pickle: " + problem);
    }

    private RefusedException refused(String what) {
        return new RefusedException(source + ": a pickle can run code: this one " + what + "; refused. jdiffusion "
                + "reads only tensors, storages and plain containers from pickles; if you trust the file, convert it "
                + "to safetensors with the tool that made it", what);
    }

    private static String describe(Object v) {
        return switch (v) {
            case null -> "None";
            case Callable c -> switch (c) {
                case ORDERED_DICT -> "collections.OrderedDict";
                case REBUILD_TENSOR_V2 -> "torch._utils._rebuild_tensor_v2";
                case REBUILD_PARAMETER -> "torch._utils._rebuild_parameter";
            };
            case StorageType s -> s.name();
            case InertGlobal g -> g.name();
            case String s -> "'" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "'";
            case Tuple t -> "a tuple of " + t.items().size();
            case List<?> l -> "a list of " + l.size();
            case Map<?, ?> m -> "a dict of " + m.size();
            case TensorRef t -> "a tensor";
            case StorageRef s -> "a storage";
            default -> v.getClass().getSimpleName();
        };
    }

    private static String opName(int op) {
        return op >= 0x20 && op < 0x7f ? "'" + (char) op + "'" : String.format("0x%02x", op);
    }
}
