package jdiffusion.io;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Pickle protocol 2 opcodes written one by one: test input crafted by hand, as torch.save would emit it (or worse). */
public final class PickleBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public static PickleBytes protocol2() {
        PickleBytes p = new PickleBytes();
        p.op(0x80).raw(2);
        return p;
    }

    public PickleBytes op(int opcode) {
        out.write(opcode);
        return this;
    }

    public PickleBytes raw(int... bytes) {
        for (int b : bytes) out.write(b);
        return this;
    }

    public PickleBytes mark() {
        return op('(');
    }

    public PickleBytes global(String module, String name) {
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.US_ASCII));
        return this;
    }

    public PickleBytes str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X');
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(b.length).array());
        out.writeBytes(b);
        return this;
    }

    public PickleBytes integer(long v) {
        if (v >= 0 && v < 256) return op('K').raw((int) v);
        if (v >= 0 && v < 65536) return op('M').raw((int) (v & 0xff), (int) (v >> 8));
        if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
            op('J');
            out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
            return this;
        }
        op(0x8a).raw(8);
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        return this;
    }

    public PickleBytes ints(long... values) {
        mark();
        for (long v : values) integer(v);
        return op('t');
    }

    public PickleBytes none() {
        return op('N');
    }

    public PickleBytes bool(boolean b) {
        return op(b ? 0x88 : 0x89);
    }

    public PickleBytes emptyDict() {
        return op('}');
    }

    public PickleBytes emptyTuple() {
        return op(')');
    }

    public PickleBytes tuple() {
        return op('t');
    }

    public PickleBytes reduce() {
        return op('R');
    }

    public PickleBytes setItems() {
        return op('u');
    }

    public PickleBytes put(int memo) {
        return op('q').raw(memo);
    }

    public PickleBytes get(int memo) {
        return op('h').raw(memo);
    }

    public PickleBytes stop() {
        return op('.');
    }

    /** {@code collections.OrderedDict()}, as torch writes backward_hooks and state dicts. */
    public PickleBytes orderedDict() {
        return global("collections", "OrderedDict").emptyTuple().reduce();
    }

    /** {@code _rebuild_tensor_v2(<storage>, offset, size, stride, False, OrderedDict())}, the storage a persistent id. */
    public PickleBytes tensor(String storageType, String key, long numel, long offset, long[] size, long[] stride) {
        global("torch._utils", "_rebuild_tensor_v2");
        mark();
        mark().str("storage").global("torch", storageType).str(key).str("cpu").integer(numel).tuple().op('Q');
        integer(offset).ints(size).ints(stride).bool(false).orderedDict();
        tuple();
        return reduce();
    }

    /** The legacy format's persistent id has a sixth element, the (absent) view metadata. */
    public PickleBytes legacyTensor(String storageType, String key, long numel, long offset, long[] size, long[] stride) {
        global("torch._utils", "_rebuild_tensor_v2");
        mark();
        mark().str("storage").global("torch", storageType).str(key).str("cpu").integer(numel).none().tuple().op('Q');
        integer(offset).ints(size).ints(stride).bool(false).orderedDict();
        tuple();
        return reduce();
    }

    public byte[] bytes() {
        return out.toByteArray();
    }
}
