package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.Base64;
import jdiffusion.JDiffusionException;
import jdiffusion.lora.LoRAFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code "preset": "fast"} (issue 23): LCM, 4 steps, guidance 1 and serve --fast-lora, body fields winning. */
class FastPresetTest {
    @TempDir
    static Path outputs;
    @TempDir
    static Path loras;
    static Path fastLora;
    static TestServer server;

    @BeforeAll
    static void start() {
        fastLora = loras.resolve("lcm-lora.safetensors");
        JobApiTest.writeLoRA(fastLora);
        server = TestServer.start(outputs, o -> o.withSpeed("fp32", fastLora));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static ObjectNode fast(long seed) {
        return JSON.createObjectNode().put("prompt", "a red circle").put("seed", seed).put("width", 64).put("height", 64)
                .put("preset", "fast");
    }

    private static JsonNode info(TestServer.Response r) throws Exception {
        assertEquals(200, r.status(), r.text());
        return JSON.readTree(r.json().get("info").asText());
    }

    private static byte[] image(TestServer.Response r) {
        return Base64.getDecoder().decode(r.json().get("images").get(0).asText());
    }

    @Test
    void presetsAreListed() {
        TestServer.Response r = server.get("/v1/presets");
        assertEquals(200, r.status(), r.text());
        JsonNode f = r.json().get("fast");
        assertEquals("LCM", f.get("sampler_name").asText());
        assertEquals(4, f.get("steps").asInt());
        assertEquals(1.0, f.get("cfg_scale").asDouble());
        assertEquals("lcm-lora.safetensors", f.get("lora").asText());
    }

    @Test
    void theFastPresetFillsWhatTheBodyLeavesOut() throws Exception {
        TestServer.Response r = server.post("/sdapi/v1/txt2img", fast(5));
        JsonNode info = info(r);
        assertEquals("LCM", info.get("sampler_name").asText());
        assertEquals(4, info.get("steps").asInt());
        assertEquals(1.0, info.get("cfg_scale").asDouble());
        String infotext = info.get("infotexts").get(0).asText();
        assertTrue(infotext.contains("Lora hashes: ") && infotext.contains(LoRAFiles.shortHash(fastLora)), infotext);

        JsonNode given = info(server.post("/sdapi/v1/txt2img", fast(5).put("steps", 2).put("sampler_name", "Euler")));
        assertEquals(2, given.get("steps").asInt());
        assertEquals("Euler", given.get("sampler_name").asText());
        assertEquals(1.0, given.get("cfg_scale").asDouble());
    }

    @Test
    void theKeptLoRAGivesTheSameImagesAroundAPlainRequest() throws Exception {
        byte[] first = image(server.post("/sdapi/v1/txt2img", fast(9)));
        byte[] again = image(server.post("/sdapi/v1/txt2img", fast(9)));
        ObjectNode plainBody = fast(9);
        plainBody.remove("preset");
        plainBody.put("sampler_name", "LCM").put("steps", 4).put("cfg_scale", 1.0);
        byte[] plain = image(server.post("/sdapi/v1/txt2img", plainBody));
        byte[] afterPlain = image(server.post("/sdapi/v1/txt2img", fast(9)));
        assertArrayEquals(first, again, "the same fast request twice");
        assertArrayEquals(first, afterPlain, "the fast request after a request without the LoRA");
        assertFalse(java.util.Arrays.equals(first, plain), "the LoRA changes the picture");
    }

    @Test
    void badPresetsAre422NamingTheField() {
        TestServer.Response unknown = server.post("/sdapi/v1/txt2img", fast(1).put("preset", "turbo"));
        TestServer.assertClientError(unknown, "unknown preset");
        assertEquals("preset", unknown.json().get("field").asText());
        TestServer.Response number = server.post("/v1/jobs", fast(1).put("preset", 3));
        TestServer.assertClientError(number, "numeric preset");
        assertEquals("preset", number.json().get("field").asText());
    }

    @Test
    void badSpeedOptionsAreOneLine() {
        ServerOptions o = ServerOptions.defaults(TestServer.MODEL, outputs);
        assertEquals("auto", o.dtype());
        JDiffusionException missing = assertThrows(JDiffusionException.class, () -> o.withSpeed("auto", loras.resolve("nope.safetensors")));
        assertTrue(missing.getMessage().startsWith("--fast-lora") && missing.getMessage().contains("not a file"), missing.getMessage());
        JDiffusionException dtype = assertThrows(JDiffusionException.class, () -> o.withSpeed("fp16", null));
        assertTrue(dtype.getMessage().contains("--dtype"), dtype.getMessage());
    }
}
