package jdiffusion.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.checkpoint.SingleFileCheckpoint;
import jdiffusion.checkpoint.SingleFileExport;
import jdiffusion.io.DType;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The restricted unpickler on pickles written by hand, opcode by opcode: state dicts as torch.save
 * lays them out (zip and legacy), and pickles that would run code, which must be refused.
 */
class TorchCheckpointTest {
    @TempDir
    Path dir;

    /** Storage "0": 6 floats 0..5; storage "1": 2 halves 1.5, -2. */
    private static final float[] FLOATS = {0, 1, 2, 3, 4, 5};
    private static final byte[] HALVES = {0x00, 0x3e, 0x00, (byte) 0xc0}; // 1.5, -2.0 as IEEE half, little-endian

    /** A state dict of four tensors over two storages: a matrix, its transpose (a strided view), a slice, a half vector. */
    private static byte[] stateDictPickle(boolean legacy, boolean lightning) {
        PickleBytes p = PickleBytes.protocol2();
        if (lightning) p.emptyDict().put(0).mark().str("epoch").integer(3).str("global_step").integer(875000).str("state_dict");
        p.orderedDict().put(1).mark();
        tensor(p, legacy, "w", "FloatStorage", "0", 6, 0, new long[] {2, 3}, new long[] {3, 1});
        tensor(p, legacy, "w_t", "FloatStorage", "0", 6, 0, new long[] {3, 2}, new long[] {1, 3});
        tensor(p, legacy, "tail", "FloatStorage", "0", 6, 4, new long[] {2}, new long[] {1});
        tensor(p, legacy, "h", "HalfStorage", "1", 2, 0, new long[] {2}, new long[] {1});
        p.setItems();
        if (lightning) p.setItems();
        return p.stop().bytes();
    }

    private static void tensor(PickleBytes p, boolean legacy, String name, String type, String key, long numel,
                               long offset, long[] size, long[] stride) {
        p.str(name);
        if (legacy) p.legacyTensor(type, key, numel, offset, size, stride);
        else p.tensor(type, key, numel, offset, size, stride);
    }

    private static byte[] floatBytes(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return b.array();
    }

    /** The pre-1.6 format: magic, protocol, sys info, object, storage keys, then each storage as count + bytes. */
    private static Path writeLegacy(Path file, byte[] objectPickle) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        // 0x1950a86a20f9469cfc6c as LONG1 (10 bytes, little-endian)
        out.writeBytes(PickleBytes.protocol2().op(0x8a).raw(10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop().bytes());
        out.writeBytes(PickleBytes.protocol2().integer(1001).stop().bytes());
        out.writeBytes(PickleBytes.protocol2().emptyDict().mark().str("protocol_version").integer(1001)
                .str("little_endian").bool(true).setItems().stop().bytes());
        out.writeBytes(objectPickle);
        out.writeBytes(PickleBytes.protocol2().op(']').mark().str("0").str("1").op('e').stop().bytes());
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(6).array());
        out.writeBytes(floatBytes(FLOATS));
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(2).array());
        out.writeBytes(HALVES);
        Files.write(file, out.toByteArray());
        return file;
    }

    private static void assertStateDict(TorchCheckpoint ckpt) {
        try (StateDict sd = StateDict.of(ckpt.tensors(), null, "test"); PointerScope scope = new PointerScope()) {
            assertEquals(List.of("w", "w_t", "tail", "h"), List.copyOf(sd.keys()));
            assertArrayEquals(new long[] {2, 3}, sd.shape("w"));
            assertEquals(DType.F16, sd.dtype("h"));
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, Tensors.toFloats(sd.view("w")));
            assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, Tensors.toFloats(sd.view("w_t")));
            assertArrayEquals(new float[] {4, 5}, Tensors.toFloats(sd.view("tail")));
            assertArrayEquals(new float[] {1.5f, -2f}, Tensors.toFloats(sd.view("h")));
        }
    }

    @Test
    void readsAZipStateDict() throws IOException {
        Path file = TorchZip.write(dir.resolve("sd.ckpt"), stateDictPickle(false, false), Map.of("0", floatBytes(FLOATS), "1", HALVES));
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(file)) {
            assertStateDict(ckpt);
            assertNull(ckpt.globalStep());
        }
    }

    @Test
    void readsALightningCheckpoint() throws IOException {
        Path file = TorchZip.write(dir.resolve("lightning.ckpt"), stateDictPickle(false, true), Map.of("0", floatBytes(FLOATS), "1", HALVES));
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(file)) {
            assertStateDict(ckpt);
            assertEquals(875000L, ckpt.globalStep());
        }
    }

    @Test
    void readsTheLegacyFormat() throws IOException {
        Path file = writeLegacy(dir.resolve("old.pt"), stateDictPickle(true, false));
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(file)) {
            assertStateDict(ckpt);
        }
    }

    @Test
    void acceptsLightningsCallbackClassAsAKeyOnly() {
        byte[] ok = PickleBytes.protocol2().emptyDict().global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
                .emptyDict().op('s').stop().bytes();
        Object value = RestrictedUnpickler.load(ok, "test", (k, d, n, l) -> null);
        assertEquals(1, ((Map<?, ?>) value).size());
        byte[] call = PickleBytes.protocol2().global("pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint")
                .emptyTuple().reduce().stop().bytes();
        var e = assertThrows(JDiffusionException.class, () -> RestrictedUnpickler.load(call, "test", (k, d, n, l) -> null));
        assertTrue(e.getMessage().contains("calls pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"), e.getMessage());
    }

    // ---------------------------------------------------------------------------------------------
    // Pickles that would run code.

    @Test
    void refusesOsSystemAndRunsNothing() throws IOException {
        Path marker = dir.resolve("pwned");
        byte[] evil = PickleBytes.protocol2().orderedDict().put(0).mark().str("w")
                .global("posix", "system").str("touch " + marker).op(0x85).reduce()
                .setItems().stop().bytes();
        Path file = TorchZip.write(dir.resolve("evil.ckpt"), evil, Map.of());
        var e = assertThrows(JDiffusionException.class, () -> TorchCheckpoint.open(file));
        assertTrue(e.getMessage().contains("a pickle can run code: this one calls posix.system; refused"), e.getMessage());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        assertFalse(Files.exists(marker), "nothing may run");
    }

    @Test
    void refusesEveryOtherWayToCode() {
        Map<String, byte[]> cases = new LinkedHashMap<>();
        cases.put("calls builtins.eval", PickleBytes.protocol2().global("builtins", "eval").str("1+1").op(0x85).reduce().stop().bytes());
        cases.put("calls os.system", PickleBytes.protocol2().str("os").str("system").op(0x93).str("id").op(0x85).reduce().stop().bytes());
        cases.put("calls torch.FloatStorage", PickleBytes.protocol2().global("torch", "FloatStorage").emptyTuple().reduce().stop().bytes());
        cases.put("calls torch.load", PickleBytes.protocol2().global("torch", "load").stop().bytes());
        cases.put("creates an object of an arbitrary class", PickleBytes.protocol2().orderedDict().emptyTuple().op(0x81).stop().bytes());
        cases.put("sets the state of", PickleBytes.protocol2().mark().tuple().emptyDict().op('b').stop().bytes());
        cases.put("extension registry", PickleBytes.protocol2().op(0x82).raw(1).stop().bytes());
        for (Map.Entry<String, byte[]> c : cases.entrySet()) {
            var e = assertThrows(JDiffusionException.class, () -> RestrictedUnpickler.load(c.getValue(), "evil.pkl", (k, d, n, l) -> null),
                    c.getKey());
            assertTrue(e.getMessage().contains("a pickle can run code") && e.getMessage().contains(c.getKey()), e.getMessage());
        }
    }

    @Test
    void refusesTensorsOutsideTheirStorage() throws IOException {
        byte[] pickle = PickleBytes.protocol2().orderedDict().mark().str("w")
                .tensor("FloatStorage", "0", 6, 2, new long[] {2, 3}, new long[] {3, 1}).setItems().stop().bytes();
        Path file = TorchZip.write(dir.resolve("oob.ckpt"), pickle, Map.of("0", floatBytes(FLOATS)));
        var e = assertThrows(JDiffusionException.class, () -> TorchCheckpoint.open(file));
        assertTrue(e.getMessage().contains("reaches element 7") && e.getMessage().contains("holds 6"), e.getMessage());
        // A storage that claims more elements than its entry has bytes.
        byte[] big = PickleBytes.protocol2().orderedDict().mark().str("w")
                .tensor("FloatStorage", "0", 600, 0, new long[] {600}, new long[] {1}).setItems().stop().bytes();
        Path truncated = TorchZip.write(dir.resolve("truncated.ckpt"), big, Map.of("0", floatBytes(FLOATS)));
        e = assertThrows(JDiffusionException.class, () -> TorchCheckpoint.open(truncated));
        assertTrue(e.getMessage().contains("truncated or corrupt"), e.getMessage());
    }

    @Test
    void malformedPicklesFailCleanly() throws IOException {
        byte[] full = stateDictPickle(false, false);
        for (int cut : new int[] {1, 5, full.length / 2, full.length - 1}) {
            byte[] part = java.util.Arrays.copyOf(full, cut);
            var e = assertThrows(JDiffusionException.class, () -> RestrictedUnpickler.load(part, "cut.pkl",
                    (k, d, n, l) -> new RestrictedUnpickler.StorageRef(k, d, n, l)));
            assertTrue(e.getMessage().startsWith("cut.pkl: not a readable PyTorch pickle"), e.getMessage());
        }
        Path noStorage = TorchZip.write(dir.resolve("missing.ckpt"), full, Map.of("0", floatBytes(FLOATS)));
        var e = assertThrows(JDiffusionException.class, () -> TorchCheckpoint.open(noStorage));
        assertTrue(e.getMessage().contains("storage '1' is missing"), e.getMessage());
        Path notTorch = TorchZip.write(dir.resolve("other.zip"), new byte[0], Map.of());
        Files.delete(notTorch);
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(notTorch))) {
            zip.putNextEntry(new ZipEntry("readme.txt"));
            zip.write("hello".getBytes(StandardCharsets.US_ASCII));
        }
        e = assertThrows(JDiffusionException.class, () -> TorchCheckpoint.open(notTorch));
        assertTrue(e.getMessage().contains("not a PyTorch checkpoint"), e.getMessage());
    }

    /**
     * An SD 1.x Lightning .ckpt (each tensor its own storage, EMA and schedule leftovers beside)
     * reads as the same checkpoint saved as safetensors.
     */
    @Test
    void readsAnSdCheckpointAsItsSafetensorsTwin() throws IOException {
        Path safetensors = dir.resolve("sd1.safetensors");
        SingleFileExport.write(Golden.model("sd1-tiny-pipeline"), safetensors, null);
        PickleBytes p = PickleBytes.protocol2().emptyDict().mark().str("global_step").integer(470000).str("state_dict")
                .orderedDict().mark();
        Map<String, byte[]> storages = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(safetensors)) {
            for (String name : f.names()) {
                SafetensorsFile.TensorInfo info = f.info(name);
                String key = Integer.toString(storages.size());
                long[] shape = info.shape();
                long[] stride = new long[shape.length];
                for (int i = shape.length - 1, s = 1; i >= 0; s *= (int) shape[i], i--) stride[i] = s;
                p.str(name).tensor("FloatStorage", key, info.numel(), 0, shape, stride);
                storages.put(key, info.numel() == 0 ? new byte[0] : bytes(f, name));
            }
        }
        p.str("betas").tensor("FloatStorage", "betas", 2, 0, new long[] {2}, new long[] {1});
        storages.put("betas", new byte[8]);
        p.str("model_ema.decay").tensor("FloatStorage", "decay", 1, 0, new long[0], new long[0]);
        storages.put("decay", new byte[4]);
        byte[] pickle = p.setItems().setItems().stop().bytes();
        Path ckptFile = TorchZip.write(dir.resolve("sd1.ckpt"), pickle, storages);

        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(ckptFile);
             SingleFileCheckpoint twin = SingleFileCheckpoint.open(safetensors);
             PointerScope scope = new PointerScope()) {
            assertEquals(twin.summary(), ckpt.summary());
            assertEquals(twin.unetConfig().get("block_out_channels"), ckpt.unetConfig().get("block_out_channels"));
            for (var pair : List.of(List.of(twin.unet(), ckpt.unet()), List.of(twin.vae(), ckpt.vae()),
                    List.of(twin.textEncoder(), ckpt.textEncoder()))) {
                assertEquals(pair.get(0).keys(), pair.get(1).keys());
                for (String k : pair.get(0).keys()) {
                    assertArrayEquals(Tensors.toFloats(pair.get(0).view(k)), Tensors.toFloats(pair.get(1).view(k)), k);
                }
            }
            assertTrue(ckpt.notes().stream().anyMatch(n -> n.contains("model_ema")), ckpt.notes().toString());
            assertTrue(ckpt.notes().stream().anyMatch(n -> n.contains("noise-schedule")), ckpt.notes().toString());
        }
    }

    private static byte[] bytes(SafetensorsFile f, String name) {
        SafetensorsFile.TensorInfo info = f.info(name);
        try (PointerScope scope = new PointerScope()) {
            Tensor t = f.view(name);
            return java.lang.foreign.MemorySegment.ofAddress(t.data_ptr().address()).reinterpret(info.byteSize())
                    .toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
    }

    @Test
    void viewsOfAStorageShareItsData() throws IOException {
        Path file = TorchZip.write(dir.resolve("sd.ckpt"), stateDictPickle(false, false), Map.of("0", floatBytes(FLOATS), "1", HALVES));
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(file); PointerScope scope = new PointerScope()) {
            Tensor w = ckpt.tensors().get("w").view();
            Tensor wt = ckpt.tensors().get("w_t").view();
            assertEquals(w.data_ptr().address(), wt.data_ptr().address(), "zero-copy views of one mapped storage");
        }
    }
}
