package jdiffusion.io;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several hundred truncated and corrupted files: each either opens and reads consistently or
 * fails with a JDiffusionException that names the file — never a JVM crash, a hang or an OOM.
 */
class SafetensorsFuzzTest {
    @TempDir
    Path dir;

    private int cases;
    private int rejected;

    @Test
    @Timeout(120)
    void corruptFilesFailCleanly() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("a", Tensors.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        tensors.put("b", Tensors.fromLongs(new long[] {7, 8, 9}, 3));
        tensors.put("c", Tensors.fromFloats(new float[] {1, 2, 3, 4}, 4).to(DType.BF16.scalarType()));
        Path valid = dir.resolve("valid.safetensors");
        SafetensorsWriter.write(valid, tensors, Map.of("format", "pt"));
        byte[] good = Files.readAllBytes(valid);
        int headerLen = (int) ByteBuffer.wrap(good, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(good, 8, headerLen, StandardCharsets.UTF_8);
        byte[] data = java.util.Arrays.copyOfRange(good, 8 + headerLen, good.length);
        Random random = new Random(1234);

        // 1. every truncation length
        for (int len = 0; len < good.length; len++) {
            check(java.util.Arrays.copyOf(good, len), "truncated to " + len);
        }
        // 2. random byte corruption in the header and the length field
        for (int i = 0; i < 300; i++) {
            byte[] b = good.clone();
            int flips = 1 + random.nextInt(4);
            for (int k = 0; k < flips; k++) {
                int pos = random.nextInt(8 + headerLen);
                b[pos] = (byte) random.nextInt(256);
            }
            check(b, "random header bytes #" + i);
        }
        // 3. hostile header lengths
        for (long len : new long[] {-1, Long.MIN_VALUE, Long.MAX_VALUE, 1L << 40, 0, 1, headerLen + 1,
                headerLen - 1, 200L * 1024 * 1024}) {
            byte[] b = good.clone();
            ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).putLong(len);
            check(b, "header length " + len);
        }
        // 4. hand-made headers with specific faults
        List<String> headers = new ArrayList<>(List.of(
                "not json at all",
                "[1, 2, 3]",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [-24, 0]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
                        + " \"b\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [8, 32]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 9999999]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}",
                "{\"a\": {\"dtype\": \"F33\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}",
                "{\"a\": {\"dtype\": \"float32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2, 3], \"data_offsets\": [0, 24]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 24]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5, 3], \"data_offsets\": [0, 24]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": \"2x3\", \"data_offsets\": [0, 24]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [24, 0]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24, 48]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 1e30]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 99999999999999999999999]}}",
                "{\"a\": 5}",
                "{\"__metadata__\": {\"k\": 5}}",
                "{\"__metadata__\": [1]}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
                        + " \"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}",
                "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}"));
        for (int i = 0; i < 200; i++) {
            // random mutations of the real header's text: numbers, dtypes and brackets replaced
            StringBuilder s = new StringBuilder(header);
            int pos = random.nextInt(s.length());
            String[] junk = {"-1", "9999999999", "F64", "\"", "]", "{", ",", "0", "null", "BOOL", "[]", "1e400"};
            s.replace(pos, Math.min(s.length(), pos + random.nextInt(4)), junk[random.nextInt(junk.length)]);
            headers.add(s.toString());
        }
        for (String h : headers) {
            byte[] hb = h.getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(8 + hb.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(hb.length).put(hb).put(data);
            check(b.array(), "header " + h);
        }
        System.out.printf("safetensors fuzz: %d files, %d rejected with a clear error, %d read consistently%n",
                cases, rejected, cases - rejected);
        assertTrue(cases >= 500, "expected several hundred cases, ran " + cases);
        assertTrue(rejected >= 400, "most corrupt files must be rejected, only " + rejected + " were");
    }

    private void check(byte[] bytes, String what) throws IOException {
        cases++;
        Path p = dir.resolve("case" + cases + ".safetensors");
        Files.write(p, bytes);
        try (PointerScope scope = new PointerScope(); SafetensorsFile f = SafetensorsFile.open(p)) {
            // Accepted: every tensor must be readable within the file.
            for (String name : f.names()) {
                Tensor t = f.view(name);
                if (t.numel() > 0) t.to(org.bytedeco.pytorch.global.torch.ScalarType.Double).sum().item_double();
            }
        } catch (JDiffusionException e) {
            rejected++;
            assertTrue(e.getMessage().contains(p.toString()), what + ": the error does not name the file: " + e.getMessage());
            assertTrue(e.getMessage().length() < 600, what + ": message too long: " + e.getMessage());
        } catch (Throwable t) {
            fail(what + ": expected a JDiffusionException, got " + t, t);
        } finally {
            Files.delete(p);
        }
    }
}
