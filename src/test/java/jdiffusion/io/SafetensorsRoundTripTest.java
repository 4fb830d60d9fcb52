package jdiffusion.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsRoundTripTest {
    @TempDir
    Path dir;

    @Test
    void everyDtypeRoundTrips() {
        Tensor base = Tensors.fromFloats(new float[] {0f, 1f, -2f, 3.5f, 127f, -128f}, 2, 3);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (DType d : DType.values()) {
            tensors.put("t_" + d.name().toLowerCase(), base.to(d.scalarType()));
        }
        tensors.put("scalar", Tensors.fromFloats(new float[] {42f}).reshape());
        tensors.put("empty", Tensors.fromFloats(new float[0], 0, 4));
        Path file = dir.resolve("all.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt", "note", "round trip"));

        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt", "note", "round trip"), f.metadata());
            assertEquals(tensors.keySet(), f.names());
            for (DType d : DType.values()) {
                String name = "t_" + d.name().toLowerCase();
                assertEquals(d, f.info(name).dtype());
                Tensor back = f.view(name);
                assertEquals(d.scalarType(), Tensors.dtype(back));
                assertArrayEquals(new long[] {2, 3}, Tensors.shape(back));
                assertTrue(back.equal(tensors.get(name)), name + " differs after the round trip");
            }
            assertArrayEquals(new long[0], Tensors.shape(f.view("scalar")));
            assertEquals(42f, f.view("scalar").item_float());
            assertArrayEquals(new long[] {0, 4}, Tensors.shape(f.view("empty")));
            Tensor asFloat = f.load("t_bf16", ScalarType.Float);
            assertArrayEquals(new float[] {0f, 1f, -2f, 3.5f, 127f, -128f}, Tensors.toFloats(asFloat));
        }
    }

    @Test
    void viewAliasesTheMappingAndLoadCopies() throws Exception {
        Path file = dir.resolve("x.safetensors");
        SafetensorsWriter.write(file, Map.of("x", Tensors.fromFloats(new float[] {1, 2, 3, 4}, 4)));
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            long dataStart = Files.size(file) - 16;
            Tensor view = f.view("x");
            // the view's first element lives at the start of the data area of the mapping
            assertEquals(f.view("x").data_ptr().address(), view.data_ptr().address());
            Tensor copy = f.load("x");
            assertTrue(copy.data_ptr().address() != view.data_ptr().address());
            assertTrue(dataStart > 8);
        }
    }

    @Test
    void mapsFilesLargerThanTwoGigabytes() throws Exception {
        // A sparse file: 2.5 GB of data area that costs no disk space, with a marker in the last byte.
        long n = 2_500_000_000L;
        String header = "{\"big\":{\"dtype\":\"U8\",\"shape\":[" + n + "],\"data_offsets\":[0," + n + "]}}";
        byte[] hb = header.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        Path file = dir.resolve("big.safetensors");
        try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(8 + hb.length).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            head.putLong(hb.length).put(hb).flip();
            ch.write(head);
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {7}), 8 + hb.length + n - 1);
        }
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Tensor big = f.view("big");
            assertEquals(n, big.numel());
            assertEquals(7, big.narrow(0, n - 1, 1).to(ScalarType.Long).item_long());
            assertEquals(0, big.narrow(0, 0, 1).to(ScalarType.Long).item_long());
        }
    }

    @Test
    void noTemporaryFileIsLeftBehind() throws Exception {
        Path file = dir.resolve("y.safetensors");
        SafetensorsWriter.write(file, Map.of("y", Tensors.fromFloats(new float[] {1}, 1)));
        try (var s = Files.list(dir)) {
            assertEquals(1, s.count());
        }
    }
}
