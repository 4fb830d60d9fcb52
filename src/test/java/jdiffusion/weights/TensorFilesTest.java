package jdiffusion.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.PickleBytes;
import jdiffusion.io.TorchCheckpoint;
import jdiffusion.io.TorchSave;
import jdiffusion.io.TorchZip;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One opener for safetensors and torch.save files, told apart by their bytes; nested pickle dictionaries flattened. */
class TensorFilesTest {
    @TempDir
    Path dir;

    @Test
    void nestedDictionariesAreNamedByTheirPathAndNonTensorsSkipped() throws IOException {
        Path file = dir.resolve("a1111.pt");
        try (PointerScope scope = new PointerScope()) {
            Map<String, Object> data = new LinkedHashMap<>();
            data.put("string_to_token", Map.of("*", 265L));
            data.put("string_to_param", Map.of("*", Tensors.fromFloats(new float[] {1, 2, 3, 4}, 2, 2)));
            data.put("name", "style");
            data.put("deep", Map.of("er", Map.of("w", Tensors.fromFloats(new float[] {5}, 1))));
            data.put("top", Tensors.fromFloats(new float[] {6}, 1));
            TorchSave.zip(file, data);
        }
        try (StateDict sd = TensorFiles.open(file); PointerScope scope = new PointerScope()) {
            assertEquals(List.of("string_to_param.*", "deep.er.w", "top"), List.copyOf(sd.keys()));
            assertArrayEquals(new float[] {1, 2, 3, 4}, Tensors.toFloats(sd.view("string_to_param.*")));
            assertArrayEquals(new float[] {5}, Tensors.toFloats(sd.view("deep.er.w")));
        }
        // A whole-model reader keeps to the top level: open() does not flatten.
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(file)) {
            assertEquals(List.of("top"), List.copyOf(ckpt.tensors().keySet()));
        }
        assertEquals(TensorFiles.Format.PICKLE, TensorFiles.format(file));
    }

    @Test
    void aDictionaryThatHoldsItselfEndsAndTwoSpellingsOfOneNameAreRefused() throws IOException {
        // d = {'w': tensor}; d['self'] = d
        byte[] cycle = PickleBytes.protocol2().emptyDict().put(0).mark().str("w")
                .tensor("FloatStorage", "0", 1, 0, new long[] {1}, new long[] {1})
                .str("self").get(0).setItems().stop().bytes();
        byte[] four = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(7).array();
        Path file = TorchZip.write(dir.resolve("cycle.pt"), cycle, Map.of("0", four));
        try (StateDict sd = TensorFiles.open(file)) {
            assertTrue(sd.keys().contains("w") && sd.keys().contains("self.self.w"), sd.keys().toString());
            assertTrue(sd.keys().size() <= 10, "bounded nesting: " + sd.keys().size());
        }
        // {'a.b': t, 'a': {'b': t}}
        byte[] twice = PickleBytes.protocol2().emptyDict().mark()
                .str("a.b").tensor("FloatStorage", "0", 1, 0, new long[] {1}, new long[] {1})
                .str("a").emptyDict().mark().str("b").tensor("FloatStorage", "0", 1, 0, new long[] {1}, new long[] {1}).setItems()
                .setItems().stop().bytes();
        Path ambiguous = TorchZip.write(dir.resolve("twice.pt"), twice, Map.of("0", four));
        var e = assertThrows(JDiffusionException.class, () -> TensorFiles.open(ambiguous));
        assertTrue(e.getMessage().contains("two tensors are named 'a.b'"), e.getMessage());
    }

    /** A safetensors header of 0x280 bytes starts the file with 0x80, pickle's PROTO opcode: the '{' at byte 8 decides. */
    @Test
    void safetensorsWhoseLengthLooksLikeAPickleIsStillSafetensors() throws IOException {
        String json = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        byte[] header = (json + " ".repeat(0x280 - json.length())).getBytes(StandardCharsets.US_ASCII);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
        out.writeBytes(header);
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(2.5f).array());
        Path file = Files.write(dir.resolve("learned_embeds.bin"), out.toByteArray());
        assertEquals(0x80, Files.readAllBytes(file)[0] & 0xff);
        assertEquals(TensorFiles.Format.SAFETENSORS, TensorFiles.format(file));
        try (StateDict sd = TensorFiles.open(file); PointerScope scope = new PointerScope()) {
            assertArrayEquals(new float[] {2.5f}, Tensors.toFloats(sd.view("w")));
        }
        var missing = assertThrows(JDiffusionException.class, () -> TensorFiles.open(dir.resolve("nope.pt")));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
    }

    @Test
    void randomBytesAndBrokenLinksAreCalledWhatTheyAre() throws IOException {
        byte[] random = new byte[4096];
        new java.util.Random(7).nextBytes(random);
        random[0] = (byte) 0x80; // even with a pickle's first byte: no protocol 2..5 follows
        random[1] = (byte) 0xd6;
        Path junk = Files.write(dir.resolve("model.ckpt"), random);
        var e = assertThrows(JDiffusionException.class, () -> TensorFiles.format(junk));
        assertTrue(e.getMessage().contains("neither a safetensors file nor a PyTorch pickle"), e.getMessage());
        Path link = Files.createSymbolicLink(dir.resolve("broken.safetensors"), dir.resolve("blobs/missing"));
        e = assertThrows(JDiffusionException.class, () -> TensorFiles.format(link));
        assertTrue(e.getMessage().contains("broken symbolic link") && e.getMessage().contains("blobs/missing"), e.getMessage());
    }
}
