package jdiffusion.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import jdiffusion.tensor.Tensors;

/**
 * Writes tensors and metadata as a safetensors file, through a temporary file moved into place.
 * Tensors are stored in the order given, each in its own dtype, contiguous and on the CPU.
 *
 * <pre>{@code
 * SafetensorsWriter.write(Path.of("out.safetensors"), Map.of("x", x), Map.of("format", "pt"));
 * }</pre>
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private SafetensorsWriter() {}

    public static void write(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        List<Map.Entry<String, Tensor>> entries = new ArrayList<>(tensors.entrySet());
        List<Tensor> contiguous = new ArrayList<>(entries.size());
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            new LinkedHashMap<>(metadata).forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : entries) {
            Tensor t = e.getValue().detach().to(Tensors.CPU, e.getValue().scalar_type()).contiguous();
            contiguous.add(t);
            DType dtype = DType.of(t.scalar_type());
            ObjectNode node = header.putObject(e.getKey());
            node.put("dtype", dtype.name());
            ArrayNode shape = node.putArray("shape");
            for (long d : Tensors.shape(t)) shape.add(d);
            long bytes = t.numel() * dtype.byteSize();
            node.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        // Pad with spaces so the data area starts 8-byte aligned, as the reference writer does.
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        AtomicFiles.write(path, tmp -> {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writeFully(ch, head);
                for (Tensor t : contiguous) {
                    long bytes = t.numel() * t.element_size();
                    if (bytes == 0) continue;
                    MemorySegment seg = MemorySegment.ofAddress(t.data_ptr().address()).reinterpret(bytes);
                    for (long pos = 0; pos < bytes; pos += Integer.MAX_VALUE / 2) {
                        long n = Math.min(Integer.MAX_VALUE / 2, bytes - pos);
                        writeFully(ch, seg.asSlice(pos, n).asByteBuffer());
                    }
                }
                ch.force(false);
            }
        });
    }

    public static void write(Path path, Map<String, Tensor> tensors) {
        write(path, tensors, Map.of());
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }
}
