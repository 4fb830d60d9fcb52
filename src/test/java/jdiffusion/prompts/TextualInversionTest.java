package jdiffusion.prompts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading textual inversion files: diffusers / sd-concepts-library and AUTOMATIC1111 safetensors layouts (pickles: TextualInversionPickleTest). */
class TextualInversionTest {
    private static float[] ramp(int n, float start) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = start + i * 0.25f;
        return v;
    }

    private static void write(Path file, Map<String, float[]> tensors, Map<String, long[]> shapes) {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> map = new LinkedHashMap<>();
            tensors.forEach((name, values) -> map.put(name, Tensors.fromFloats(values, shapes.get(name))));
            SafetensorsWriter.write(file, map);
        }
    }

    @Test
    void diffusersFormatIsOneTensorNamedByItsToken(@TempDir Path dir) {
        Path file = dir.resolve("learned_embeds.safetensors");
        write(file, Map.of("<cat-toy>", ramp(32, 1)), Map.of("<cat-toy>", new long[] {32}));
        TextualInversion ti = TextualInversion.load(file);
        assertEquals("<cat-toy>", ti.token());
        assertEquals(1, ti.vectorCount());
        assertEquals(32, ti.dim());
        assertArrayEquals(ramp(32, 1), ti.vector(0));
        assertEquals(List.of("<cat-toy>"), ti.tokens());
        // A folder as downloaded from sd-concepts-library, and a token chosen by the caller.
        assertEquals("<cat-toy>", TextualInversion.load(dir).token());
        assertEquals("<my-toy>", TextualInversion.load(dir, "<my-toy>").token());
    }

    @Test
    void a1111FormatIsEmbParamsNamedByTheFile(@TempDir Path dir) {
        Path file = dir.resolve("EasyStyle.safetensors");
        float[] two = new float[64];
        System.arraycopy(ramp(32, 1), 0, two, 0, 32);
        System.arraycopy(ramp(32, -3), 0, two, 32, 32);
        write(file, Map.of("emb_params", two), Map.of("emb_params", new long[] {2, 32}));
        TextualInversion ti = TextualInversion.load(file);
        assertEquals("EasyStyle", ti.token());
        assertEquals(2, ti.vectorCount());
        assertEquals(List.of("EasyStyle", "EasyStyle_1"), ti.tokens());
        assertArrayEquals(ramp(32, -3), ti.vector(1));
        try (PointerScope scope = new PointerScope()) {
            assertEquals("[2, 32]", Tensors.shapeString(ti.vectors()));
        }
    }

    @Test
    void picklesAndUnknownLayoutsAreClearErrors(@TempDir Path dir) throws IOException {
        // Pickles are read (TextualInversionPickleTest); one cut after its first two bytes is a clear error.
        for (String name : List.of("learned_embeds.bin", "style.pt")) {
            Path pickle = Files.write(dir.resolve(name), new byte[] {(byte) 0x80, 2});
            JDiffusionException e = assertThrows(JDiffusionException.class, () -> TextualInversion.load(pickle));
            assertTrue(e.getMessage().contains("pickle ends early"), e.getMessage());
        }
        // A concepts folder with only the (broken) pickle file.
        JDiffusionException folder = assertThrows(JDiffusionException.class, () -> TextualInversion.load(dir));
        assertTrue(folder.getMessage().contains("learned_embeds.bin"), folder.getMessage());
        JDiffusionException empty = assertThrows(JDiffusionException.class,
                () -> TextualInversion.load(Files.createDirectories(dir.resolve("empty"))));
        assertTrue(empty.getMessage().contains("neither learned_embeds.safetensors nor learned_embeds.bin"), empty.getMessage());

        Path sdxl = dir.resolve("xl.safetensors");
        write(sdxl, Map.of("clip_l", ramp(32, 0), "clip_g", ramp(64, 0)),
                Map.of("clip_l", new long[] {1, 32}, "clip_g", new long[] {1, 64}));
        JDiffusionException xl = assertThrows(JDiffusionException.class, () -> TextualInversion.load(sdxl));
        assertTrue(xl.getMessage().contains("SDXL"), xl.getMessage());

        Path two = dir.resolve("two.safetensors");
        write(two, Map.of("a", ramp(32, 0), "b", ramp(32, 0)), Map.of("a", new long[] {32}, "b", new long[] {32}));
        JDiffusionException unknown = assertThrows(JDiffusionException.class, () -> TextualInversion.load(two));
        assertTrue(unknown.getMessage().contains("emb_params"), unknown.getMessage());

        Path cube = dir.resolve("cube.safetensors");
        write(cube, Map.of("emb_params", ramp(8, 0)), Map.of("emb_params", new long[] {2, 2, 2}));
        assertThrows(JDiffusionException.class, () -> TextualInversion.load(cube));

        assertThrows(JDiffusionException.class, () -> TextualInversion.load(dir.resolve("missing.safetensors")));
    }

    @Test
    void inMemoryEmbeddingsCheckTheirVectors() {
        TextualInversion ti = TextualInversion.of("<x>", ramp(4, 0), ramp(4, 1));
        assertEquals(2, ti.vectorCount());
        assertEquals(List.of("<x>", "<x>_1"), ti.tokens());
        assertThrows(IllegalArgumentException.class, () -> TextualInversion.of("<x>", ramp(4, 0), ramp(3, 0)));
        assertThrows(JDiffusionException.class, () -> TextualInversion.of("<x>"));
        assertThrows(JDiffusionException.class, () -> TextualInversion.of(" ", ramp(4, 0)));
        float[][] many = new float[76][];
        java.util.Arrays.fill(many, ramp(4, 0));
        assertThrows(JDiffusionException.class, () -> TextualInversion.of("<x>", many));
    }
}
