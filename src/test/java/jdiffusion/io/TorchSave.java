package jdiffusion.io;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import jdiffusion.io.DType;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * torch.save written by hand for tests (there is no Python here): a dictionary of tensors, strings,
 * integers and nested dictionaries, pickled opcode by opcode with {@link PickleBytes} as torch does
 * (each tensor a {@code _rebuild_tensor_v2} over its own storage) in the zip format ({@link TorchZip})
 * or the legacy one.
 */
public final class TorchSave {
    /** An {@code nn.Parameter}: pickled through {@code torch._utils._rebuild_parameter}. */
    public record Parameter(Tensor data) {}

    /** A {@code collections.OrderedDict}, as {@code module.state_dict()} returns (a plain Map is a dict). */
    public record Ordered(Map<String, ?> items) {}

    private TorchSave() {}

    /** {@code torch.save(object, file)} in the zip format of torch 1.6 and later. */
    public static Path zip(Path file, Object object) throws IOException {
        Map<String, byte[]> storages = new LinkedHashMap<>();
        byte[] pickle = pickle(object, false, storages);
        return TorchZip.write(file, pickle, storages);
    }

    /** {@code torch.save(object, file, _use_new_zipfile_serialization=False)}: the legacy format. */
    public static Path legacy(Path file, Object object) throws IOException {
        Map<String, byte[]> storages = new LinkedHashMap<>();
        byte[] pickle = pickle(object, true, storages);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        // magic number 0x1950a86a20f9469cfc6c as LONG1, protocol version 1001, system info
        out.writeBytes(PickleBytes.protocol2().op(0x8a).raw(10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop().bytes());
        out.writeBytes(PickleBytes.protocol2().integer(1001).stop().bytes());
        out.writeBytes(PickleBytes.protocol2().emptyDict().mark().str("protocol_version").integer(1001)
                .str("little_endian").bool(true).setItems().stop().bytes());
        out.writeBytes(pickle);
        PickleBytes keys = PickleBytes.protocol2().op(']');
        if (!storages.isEmpty()) {
            keys.mark();
            storages.keySet().forEach(keys::str);
            keys.op('e');
        }
        out.writeBytes(keys.stop().bytes());
        for (Map.Entry<String, byte[]> s : storages.entrySet()) {
            DType dtype = DType.valueOf(s.getKey().substring(s.getKey().indexOf('_') + 1));
            out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(s.getValue().length / dtype.byteSize()).array());
            out.writeBytes(s.getValue());
        }
        Files.write(file, out.toByteArray());
        return file;
    }

    /** The pickle of {@code object}; the storages it refers to are added to {@code storages} by key. */
    public static byte[] pickle(Object object, boolean legacy, Map<String, byte[]> storages) {
        PickleBytes p = PickleBytes.protocol2();
        value(p, object, legacy, storages);
        return p.stop().bytes();
    }

    private static void value(PickleBytes p, Object v, boolean legacy, Map<String, byte[]> storages) {
        switch (v) {
            case null -> p.none();
            case String s -> p.str(s);
            case Integer i -> p.integer(i);
            case Long l -> p.integer(l);
            case Boolean b -> p.bool(b);
            case Tensor t -> tensor(p, t, false, legacy, storages);
            case Parameter param -> tensor(p, param.data(), true, legacy, storages);
            case Ordered o -> {
                p.orderedDict();
                items(p, o.items(), legacy, storages);
            }
            case Map<?, ?> m -> {
                p.emptyDict();
                items(p, m, legacy, storages);
            }
            default -> throw new IllegalArgumentException("TorchSave cannot pickle " + v.getClass());
        }
    }

    private static void items(PickleBytes p, Map<?, ?> m, boolean legacy, Map<String, byte[]> storages) {
        if (m.isEmpty()) return;
        p.mark();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            value(p, e.getKey(), legacy, storages);
            value(p, e.getValue(), legacy, storages);
        }
        p.setItems();
    }

    /** A contiguous tensor over a storage of its own, named "N_DTYPE" (the dtype lets the legacy trailer count elements). */
    private static void tensor(PickleBytes p, Tensor t, boolean parameter, boolean legacy, Map<String, byte[]> storages) {
        DType dtype = DType.of(Tensors.dtype(t));
        String key = storages.size() + "_" + dtype.name();
        long[] size = Tensors.shape(t);
        long[] stride = new long[size.length];
        long s = 1;
        for (int i = size.length - 1; i >= 0; i--) {
            stride[i] = s;
            s *= size[i];
        }
        try (PointerScope scope = new PointerScope()) {
            Tensor c = t.detach().contiguous();
            long bytes = c.numel() * dtype.byteSize();
            storages.put(key, bytes == 0 ? new byte[0]
                    : MemorySegment.ofAddress(c.data_ptr().address()).reinterpret(bytes).toArray(ValueLayout.JAVA_BYTE));
        }
        String type = switch (dtype) {
            case F32 -> "FloatStorage";
            case F16 -> "HalfStorage";
            case BF16 -> "BFloat16Storage";
            case F64 -> "DoubleStorage";
            case I64 -> "LongStorage";
            default -> throw new IllegalArgumentException("no storage type for " + dtype + " in this helper");
        };
        if (parameter) p.global("torch._utils", "_rebuild_parameter").mark();
        long numel = s;
        if (legacy) p.legacyTensor(type, key, numel, 0, size, stride);
        else p.tensor(type, key, numel, 0, size, stride);
        if (parameter) p.bool(true).orderedDict().tuple().reduce();
    }
}
