package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --models-dir: what is listed, how names are matched, and that a request picks a model by name only. */
class ModelCatalogTest {
    static Path modelsDir(Path dir) throws Exception {
        Files.createSymbolicLink(dir.resolve("other-shapes"), Path.of(TestServer.MODEL).toAbsolutePath());
        Files.write(dir.resolve("single.safetensors"), new byte[0]);
        Files.writeString(dir.resolve("notes.txt"), "not a model");
        Path hub = dir.resolve("models--org--tiny");
        Files.createDirectories(hub.resolve("snapshots/abc123"));
        Files.createDirectories(hub.resolve("refs"));
        Files.writeString(hub.resolve("refs/main"), "abc123");
        Files.createDirectories(dir.resolve("models--org--partial")); // no snapshot: not selectable
        return dir;
    }

    @Test
    void listsFoldersFilesAndHubReposAndMatchesByTitleOnly(@TempDir Path dir) throws Exception {
        try (ModelCatalog c = new ModelCatalog(TestServer.MODEL, modelsDir(dir), null, 1)) {
            List<String> titles = c.entries().stream().map(ModelCatalog.Entry::title).toList();
            assertEquals(List.of("tiny-shapes", "org/tiny", "other-shapes", "single.safetensors"), titles);
            assertEquals("single.safetensors", c.find("single").orElseThrow().title());
            assertEquals("single.safetensors", c.find("single.safetensors [0123abcd]").orElseThrow().title());
            assertTrue(c.find("/etc/passwd").isEmpty());
            assertTrue(c.find("../tiny-shapes").isEmpty());
            assertTrue(c.find("notes.txt").isEmpty());
        }
    }

    @Test
    void aRequestRunsOnTheModelItNames(@TempDir Path dir, @TempDir Path out) throws Exception {
        Path models = modelsDir(dir);
        try (TestServer s = TestServer.start(out, o -> o.withDirs(models, null, null))) {
            assertEquals(4, s.get("/sdapi/v1/sd-models").json().size());
            TestServer.Response r = s.post("/sdapi/v1/txt2img", A1111ApiTest.txt2img(3)
                    .set("override_settings", JSON.readTree("{\"sd_model_checkpoint\": \"other-shapes\"}")));
            assertEquals(200, r.status(), r.text());
            JsonNode info = JSON.readTree(r.json().get("info").asText());
            assertEquals("other-shapes", info.get("sd_model_name").asText());
            assertTrue(info.get("infotexts").get(0).asText().contains("Model: other-shapes"));
            // a broken checkpoint fails its job with a message; the server goes on
            TestServer.Response broken = s.post("/sdapi/v1/txt2img", A1111ApiTest.txt2img(3)
                    .set("override_settings", JSON.readTree("{\"sd_model_checkpoint\": \"single\"}")));
            TestServer.assertClientError(broken, "an empty checkpoint file");
            assertEquals(200, s.post("/sdapi/v1/txt2img", A1111ApiTest.txt2img(3)).status());
        }
    }
}
