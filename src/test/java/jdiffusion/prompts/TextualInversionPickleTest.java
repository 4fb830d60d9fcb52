package jdiffusion.prompts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.cli.CliRunner;
import jdiffusion.image.Images;
import jdiffusion.io.PickleBytes;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.io.TorchSave;
import jdiffusion.io.TorchZip;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Textual inversion files saved with torch.save (sd-concepts-library's learned_embeds.bin,
 * AUTOMATIC1111's .pt) read as their safetensors twins, and pickles that would run code refused.
 */
class TextualInversionPickleTest {
    @TempDir
    Path dir;

    private static float[] wave(int n, double phase) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) Math.sin(0.7 * i + phase);
        return v;
    }

    private static void assertSameEmbedding(TextualInversion expected, TextualInversion actual) {
        assertEquals(expected.token(), actual.token());
        assertEquals(expected.vectorCount(), actual.vectorCount());
        assertEquals(expected.dim(), actual.dim());
        for (int i = 0; i < expected.vectorCount(); i++) assertArrayEquals(expected.vector(i), actual.vector(i), "vector " + i);
    }

    @Test
    void learnedEmbedsBinGivesTheVectorOfItsSafetensorsTwin() throws IOException {
        float[] vector = wave(32, 0.3);
        Path safe = dir.resolve("safe/learned_embeds.safetensors");
        Path zip = dir.resolve("zip/learned_embeds.bin");
        Path legacy = dir.resolve("legacy/learned_embeds.bin");
        Path param = dir.resolve("param/learned_embeds.bin");
        for (Path p : List.of(safe, zip, legacy, param)) Files.createDirectories(p.getParent());
        try (PointerScope scope = new PointerScope()) {
            Tensor t = Tensors.fromFloats(vector, 32);
            SafetensorsWriter.write(safe, Map.of("<cat-toy>", t));
            TorchSave.zip(zip, Map.of("<cat-toy>", t));             // diffusers' textual_inversion.py: {token: tensor[dim]}
            TorchSave.legacy(legacy, Map.of("<cat-toy>", t));       // torch < 1.6
            TorchSave.zip(param, Map.of("<cat-toy>", new TorchSave.Parameter(t))); // an nn.Parameter
        }
        TextualInversion expected = TextualInversion.load(safe);
        assertArrayEquals(vector, expected.vector(0));
        for (Path p : List.of(zip, legacy, param)) {
            assertSameEmbedding(expected, TextualInversion.load(p));
            // the sd-concepts-library folder as downloaded, with only the .bin in it
            assertSameEmbedding(expected, TextualInversion.load(p.getParent()));
        }
        assertEquals("<my-toy>", TextualInversion.load(zip, "<my-toy>").token());
    }

    /** {@code torch.save} as A1111's textual_inversion.py writes it, in float16 (as it is saved from a half model). */
    private static Map<String, Object> a1111(Tensor vectors) {
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("string_to_token", Map.of("*", 265L));
        data.put("string_to_param", Map.of("*", vectors));
        data.put("name", "EasyStyle");
        data.put("step", 4500L);
        data.put("sd_checkpoint", "cc6cb27103");
        data.put("sd_checkpoint_name", "v1-5-pruned-emaonly");
        return data;
    }

    @Test
    void a1111PtGivesWhatTheA1111SafetensorsGives() throws IOException {
        float[] two = new float[64];
        System.arraycopy(wave(32, 0), 0, two, 0, 32);
        System.arraycopy(wave(32, 2), 0, two, 32, 32);
        Path safe = dir.resolve("EasyStyle.safetensors");
        Path pt = dir.resolve("pt/EasyStyle.pt");
        Path legacy = dir.resolve("legacy/EasyStyle.pt");
        Files.createDirectories(pt.getParent());
        Files.createDirectories(legacy.getParent());
        try (PointerScope scope = new PointerScope()) {
            Tensor half = Tensors.fromFloats(two, 2, 32).to(ScalarType.Half);
            SafetensorsWriter.write(safe, Map.of("emb_params", half));
            TorchSave.zip(pt, a1111(half));
            TorchSave.legacy(legacy, a1111(half));
        }
        TextualInversion expected = TextualInversion.load(safe);
        assertEquals("EasyStyle", expected.token());
        assertEquals(2, expected.vectorCount());
        for (Path p : List.of(pt, legacy)) {
            TextualInversion ti = TextualInversion.load(p);
            assertSameEmbedding(expected, ti);
            assertEquals(List.of("EasyStyle", "EasyStyle_1"), ti.tokens());
            assertTrue(ti.format().contains("AUTOMATIC1111"), ti.format());
        }
        // Two terms in string_to_param: A1111 asserts "embedding file has multiple terms in it"; so do we, by listing them.
        Path twoTerms = dir.resolve("two.pt");
        try (PointerScope scope = new PointerScope()) {
            Map<String, Object> data = a1111(Tensors.fromFloats(two, 2, 32));
            data.put("string_to_param", Map.of("*", Tensors.fromFloats(two, 2, 32), "#", Tensors.fromFloats(two, 2, 32)));
            TorchSave.zip(twoTerms, data);
        }
        var e = assertThrows(JDiffusionException.class, () -> TextualInversion.load(twoTerms));
        assertTrue(e.getMessage().contains("2 terms in string_to_param") && e.getMessage().contains("string_to_param.#"), e.getMessage());
    }

    @Test
    void aPickleThatWouldRunCodeIsRefusedAndNothingRunsOrIsWritten() throws IOException {
        Path marker = dir.resolve("pwned");
        // {'<cat-toy>': os.system('touch pwned')}
        byte[] system = PickleBytes.protocol2().emptyDict().mark().str("<cat-toy>")
                .global("os", "system").str("touch " + marker).op(0x85).reduce().setItems().stop().bytes();
        // the original textual_inversion repository's format: string_to_param is an nn.ParameterDict module
        byte[] parameterDict = PickleBytes.protocol2().emptyDict().mark()
                .str("string_to_token").emptyDict().mark().str("*").integer(265).setItems()
                .str("string_to_param").global("torch.nn.modules.container", "ParameterDict").emptyTuple().op(0x81)
                .emptyDict().op('b').setItems().stop().bytes();
        Map<String, byte[]> cases = new LinkedHashMap<>();
        cases.put("calls os.system", system);
        cases.put("torch.nn.modules.container.ParameterDict", parameterDict);
        for (Map.Entry<String, byte[]> c : cases.entrySet()) {
            Path file = TorchZip.write(dir.resolve("evil.pt"), c.getValue(), Map.of());
            var e = assertThrows(JDiffusionException.class, () -> TextualInversion.load(file));
            String m = e.getMessage();
            System.out.println("error: " + m);
            assertTrue(m.startsWith(file.toString()) && m.contains(c.getKey()) && m.contains("refused")
                    && m.contains("safetensors"), m);

            // through the CLI: one error line, no image
            Path png = dir.resolve("never.png");
            CliRunner r = CliRunner.run("txt2img", "--model", Golden.model("sd1-tiny-pipeline").toString(), "--quiet",
                    "--prompt", "a <cat-toy>", "--steps", "2", "--width", "16", "--height", "16",
                    "--embedding", file.toString(), "--out", png.toString());
            assertEquals(2, r.exitCode(), r.err());
            assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1 && r.err().contains(c.getKey()), r.err());
            assertFalse(Files.exists(png), "no image may be written");
        }
        assertFalse(Files.exists(marker), "nothing in the pickle may run");
        try (var files = Files.list(dir)) {
            assertEquals(List.of("evil.pt"), files.map(p -> p.getFileName().toString()).toList(), "nothing else is created");
        }
    }

    @Test
    void truncatedAndForeignFilesGiveClearErrors() throws IOException {
        Path whole = dir.resolve("whole.bin");
        Path wholeLegacy = dir.resolve("whole-legacy.pt");
        try (PointerScope scope = new PointerScope()) {
            TorchSave.zip(whole, Map.of("<cat-toy>", Tensors.fromFloats(wave(32, 1), 32)));
            TorchSave.legacy(wholeLegacy, a1111(Tensors.fromFloats(wave(64, 1), 2, 32)));
        }
        byte[] zip = Files.readAllBytes(whole);
        byte[] legacy = Files.readAllBytes(wholeLegacy);
        Map<String, String> expectations = new LinkedHashMap<>();
        Path cutZip = Files.write(dir.resolve("cut.bin"), Arrays.copyOf(zip, zip.length / 2));
        expectations.put(cutZip.toString(), "damaged zip archive");
        Path cutPickle = Files.write(dir.resolve("cut-pickle.pt"), Arrays.copyOf(legacy, 150));
        expectations.put(cutPickle.toString(), "the pickle ends early");
        Path cutData = Files.write(dir.resolve("cut-data.pt"), Arrays.copyOf(legacy, legacy.length - 9));
        expectations.put(cutData.toString(), "truncated inside storage");
        Path text = Files.writeString(dir.resolve("notes.pt"), "not a tensor file at all");
        expectations.put(text.toString(), "neither a safetensors file nor a PyTorch pickle");
        for (Map.Entry<String, String> c : expectations.entrySet()) {
            var e = assertThrows(JDiffusionException.class, () -> TextualInversion.load(Path.of(c.getKey())));
            System.out.println("error: " + e.getMessage());
            assertTrue(e.getMessage().startsWith(c.getKey()) && e.getMessage().contains(c.getValue()), e.getMessage());
        }
    }

    @Test
    void theCliTakesABinEmbeddingAsItTakesTheSafetensors() throws IOException {
        Path safe = dir.resolve("learned_embeds.safetensors");
        Path bin = dir.resolve("learned_embeds.bin");
        try (PointerScope scope = new PointerScope()) {
            Tensor t = Tensors.fromFloats(wave(32, 0.5), 32);
            SafetensorsWriter.write(safe, Map.of("<cat-toy>", t));
            TorchSave.zip(bin, Map.of("<cat-toy>", t));
        }
        List<int[]> images = new ArrayList<>();
        for (Path embedding : List.of(safe, bin)) {
            Path png = dir.resolve(embedding.getFileName() + ".png");
            CliRunner r = CliRunner.run("txt2img", "--model", Golden.model("sd1-tiny-pipeline").toString(), "--quiet",
                    "--prompt", "a <cat-toy> on a table", "--steps", "3", "--seed", "1", "--width", "16", "--height", "16",
                    "--embedding", embedding.toString(), "--out", png.toString());
            assertEquals(0, r.exitCode(), r.err());
            images.add(Images.read(png).getRGB(0, 0, 16, 16, null, 0, 16));
        }
        assertArrayEquals(images.get(0), images.get(1), "the .bin embedding gives the image of the .safetensors one");
    }
}
