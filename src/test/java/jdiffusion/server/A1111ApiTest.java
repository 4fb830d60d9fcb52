package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;
import jdiffusion.image.PngWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The /sdapi/v1 routes against the tiny model: A1111's request fields, defaults and response shapes. */
class A1111ApiTest {
    @TempDir
    static Path outputs;
    static TestServer server;

    @BeforeAll
    static void start() {
        server = TestServer.start(outputs);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static ObjectNode txt2img(long seed) {
        return JSON.createObjectNode().put("prompt", "a red circle on a blue background").put("negative_prompt", "blurry")
                .put("seed", seed).put("steps", 3).put("cfg_scale", 7).put("width", 64).put("height", 64);
    }

    static BufferedImage png(String base64) throws IOException {
        return ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(base64)));
    }

    static String parametersChunk(String base64, Path tmpDir) throws IOException {
        Path f = Files.createTempFile(tmpDir, "img", ".png");
        Files.write(f, Base64.getDecoder().decode(base64));
        return PngWriter.readText(f, "parameters");
    }

    static String dataUrl(BufferedImage img) {
        return "data:image/png;base64," + Base64Images.png(img);
    }

    static BufferedImage square(int size, Color background, Color square) {
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(background);
        g.fillRect(0, 0, size, size);
        g.setColor(square);
        g.fillRect(size / 4, size / 4, size / 2, size / 2);
        g.dispose();
        return img;
    }

    @Test
    void txt2imgAnswersAsA1111WithSeedsInfotextsAndPngParameters(@TempDir Path tmp) throws IOException {
        TestServer.Response r = server.post("/sdapi/v1/txt2img", txt2img(1234).put("batch_size", 2));
        assertEquals(200, r.status(), r.text());
        JsonNode images = r.json().get("images");
        assertEquals(2, images.size());
        JsonNode info = JSON.readTree(r.json().get("info").asText()); // a JSON string, as A1111 sends it
        assertEquals(1234, info.get("seed").asLong());
        assertEquals("[1234,1235]", info.get("all_seeds").toString());
        assertEquals("tiny-shapes", info.get("sd_model_name").asText());
        assertEquals("Euler", info.get("sampler_name").asText()); // A1111's API default (sampler_index "Euler")
        assertEquals(2, info.get("infotexts").size());
        for (int i = 0; i < 2; i++) {
            BufferedImage img = png(images.get(i).asText());
            assertEquals(64, img.getWidth());
            String chunk = parametersChunk(images.get(i).asText(), tmp);
            assertEquals(info.get("infotexts").get(i).asText(), chunk);
            assertTrue(chunk.contains("Seed: " + (1234 + i)), chunk);
            assertTrue(chunk.startsWith("a red circle on a blue background\nNegative prompt: blurry\n"), chunk);
        }
        assertEquals("a red circle on a blue background", r.json().get("parameters").get("prompt").asText());
        assertEquals(1234, r.json().get("parameters").get("seed").asLong());

        // image k of a batch is the image of seed + k on its own, as all_seeds promise
        TestServer.Response single = server.post("/sdapi/v1/txt2img", txt2img(1235));
        assertArrayEquals(pixels(png(images.get(1).asText())), pixels(png(single.json().get("images").get(0).asText())));
        // nothing saved unless save_images
        try (var files = Files.list(outputs)) {
            assertTrue(files.noneMatch(p -> p.toString().endsWith(".png")));
        }
    }

    static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    @Test
    void randomSeedIsReportedAndSendImagesFalseSendsNone() throws IOException {
        TestServer.Response r = server.post("/sdapi/v1/txt2img", txt2img(-1).put("send_images", false).put("n_iter", 2));
        assertEquals(200, r.status(), r.text());
        assertEquals(0, r.json().get("images").size());
        JsonNode info = JSON.readTree(r.json().get("info").asText());
        long seed = info.get("seed").asLong();
        assertTrue(seed >= 0 && seed <= 0xFFFFFFFFL, "seed " + seed);
        assertEquals(seed + 1, info.get("all_seeds").get(1).asLong());
    }

    @Test
    void unsupportedFieldsWarnAndPictureChangingOnesAre422() throws IOException {
        TestServer.Response r = server.post("/sdapi/v1/txt2img", txt2img(1).put("restore_faces", true)
                .set("alwayson_scripts", JSON.readTree("{\"ControlNet\": {\"args\": []}}")));
        assertEquals(200, r.status(), r.text());
        String warnings = JSON.readTree(r.json().get("info").asText()).get("warnings").toString();
        assertTrue(warnings.contains("restore_faces") && warnings.contains("alwayson_scripts"), warnings);

        TestServer.Response hr = server.post("/sdapi/v1/txt2img", txt2img(1).put("enable_hr", true));
        assertEquals(422, hr.status());
        assertEquals("enable_hr", hr.json().get("field").asText());
        TestServer.Response sampler = server.post("/sdapi/v1/txt2img", txt2img(1).put("sampler_name", "Nonexistent"));
        assertEquals(422, sampler.status());
        assertEquals("sampler_name", sampler.json().get("field").asText());
    }

    @Test
    void deepCacheIsJdiffusionsOwnFieldAndBadValuesAre422() throws IOException {
        TestServer.Response r = server.post("/sdapi/v1/txt2img", txt2img(4).put("deepcache", 2));
        assertEquals(200, r.status(), r.text());
        String infotext = JSON.readTree(r.json().get("info").asText()).get("infotexts").get(0).asText();
        assertTrue(infotext.contains("DeepCache: 2"), infotext);
        for (Object bad : new Object[] {-1, 1001, "often"}) {
            ObjectNode body = txt2img(4);
            body.set("deepcache", JSON.valueToTree(bad));
            TestServer.Response refused = server.post("/sdapi/v1/txt2img", body);
            assertEquals(422, refused.status(), refused.text());
            assertEquals("deepcache", refused.json().get("field").asText());
        }
    }

    @Test
    void karrasSchedulerAndClipSkipOverride(@TempDir Path tmp) throws IOException {
        TestServer.Response r = server.post("/sdapi/v1/txt2img", txt2img(5).put("sampler_name", "DPM++ 2M")
                .put("scheduler", "Karras").set("override_settings", JSON.readTree("{\"CLIP_stop_at_last_layers\": 2}")));
        assertEquals(200, r.status(), r.text());
        String chunk = parametersChunk(r.json().get("images").get(0).asText(), tmp);
        assertTrue(chunk.contains("Sampler: DPM++ 2M Karras") && chunk.contains("Clip skip: 2"), chunk);
        TestServer.Response model = server.post("/sdapi/v1/txt2img", txt2img(5)
                .set("override_settings", JSON.readTree("{\"sd_model_checkpoint\": \"/etc/passwd\"}")));
        assertEquals(422, model.status());
        assertEquals("override_settings.sd_model_checkpoint", model.json().get("field").asText());
    }

    @Test
    void img2imgAndInpaintingWithA1111Fields() throws IOException {
        BufferedImage init = square(64, Color.BLUE, Color.RED);
        ObjectNode body = txt2img(7).put("denoising_strength", 0.6);
        body.putArray("init_images").add(dataUrl(init));
        TestServer.Response r = server.post("/sdapi/v1/img2img", body);
        assertEquals(200, r.status(), r.text());
        assertEquals(64, png(r.json().get("images").get(0).asText()).getWidth());
        assertTrue(r.json().get("parameters").get("init_images").isNull(), "init images are not echoed back");
        assertTrue(JSON.readTree(r.json().get("info").asText()).get("infotexts").get(0).asText().contains("Denoising strength: 0.6"));

        // inpaint: white repaints; A1111 keeps the pixels outside the mask
        BufferedImage mask = square(64, Color.BLACK, Color.WHITE);
        ObjectNode inpaint = body.deepCopy().put("mask", Base64Images.png(mask)).put("mask_blur", 0).put("inpainting_fill", 1);
        TestServer.Response ri = server.post("/sdapi/v1/img2img", inpaint);
        assertEquals(200, ri.status(), ri.text());
        BufferedImage out = png(ri.json().get("images").get(0).asText());
        assertEquals(init.getRGB(2, 2) & 0xffffff, out.getRGB(2, 2) & 0xffffff, "outside the mask the input stays");
        assertTrue(JSON.readTree(ri.json().get("info").asText()).get("is_using_inpainting_conditioning").asBoolean());

        ObjectNode wrongMask = body.deepCopy().put("mask", Base64Images.png(square(32, Color.BLACK, Color.WHITE)));
        TestServer.Response bad = server.post("/sdapi/v1/img2img", wrongMask);
        assertEquals(422, bad.status());
        assertEquals("mask", bad.json().get("field").asText());
        TestServer.Response none = server.post("/sdapi/v1/img2img", txt2img(1));
        assertEquals(422, none.status());
        assertEquals("init_images", none.json().get("field").asText());
    }

    @Test
    void pngInfoReadsTheParametersBack() throws IOException {
        TestServer.Response gen = server.post("/sdapi/v1/txt2img", txt2img(99));
        String image = gen.json().get("images").get(0).asText();
        TestServer.Response r = server.post("/sdapi/v1/png-info", Map.of("image", "data:image/png;base64," + image));
        assertEquals(200, r.status(), r.text());
        assertEquals(JSON.readTree(gen.json().get("info").asText()).get("infotexts").get(0).asText(), r.json().get("info").asText());
        JsonNode p = r.json().get("parameters");
        assertEquals("a red circle on a blue background", p.get("Prompt").asText());
        assertEquals("99", p.get("Seed").asText());
        assertEquals("64", p.get("Size-1").asText());
        TestServer.Response plain = server.post("/sdapi/v1/png-info", Map.of("image", Base64Images.png(square(16, Color.RED, Color.RED))));
        assertEquals("", plain.json().get("info").asText());
    }

    @Test
    void listsAndOptions() {
        JsonNode samplers = server.get("/sdapi/v1/samplers").json();
        assertTrue(samplers.toString().contains("\"Euler a\"") && samplers.get(0).has("aliases") && samplers.get(0).has("options"));
        assertEquals("automatic", server.get("/sdapi/v1/schedulers").json().get(0).get("name").asText());
        JsonNode models = server.get("/sdapi/v1/sd-models").json();
        assertEquals("tiny-shapes", models.get(0).get("title").asText());
        for (String f : new String[] {"title", "model_name", "hash", "sha256", "filename", "config"}) assertTrue(models.get(0).has(f), f);
        assertEquals(0, server.get("/sdapi/v1/upscalers").json().size());
        assertEquals(0, server.get("/sdapi/v1/loras").json().size());
        assertTrue(server.get("/sdapi/v1/embeddings").json().has("loaded"));

        JsonNode options = server.get("/sdapi/v1/options").json();
        assertEquals("tiny-shapes", options.get("sd_model_checkpoint").asText());
        assertEquals(422, server.post("/sdapi/v1/options", Map.of("sd_model_checkpoint", "missing")).status());
        assertEquals(200, server.post("/sdapi/v1/options", Map.of("CLIP_stop_at_last_layers", 2, "unknown_key", 1)).status());
        assertEquals(2, server.get("/sdapi/v1/options").json().get("CLIP_stop_at_last_layers").asInt());
        assertEquals(200, server.post("/sdapi/v1/options", Map.of("CLIP_stop_at_last_layers", 1)).status());
        assertEquals(200, server.post("/sdapi/v1/refresh-checkpoints", "").status());
    }

    @Test
    void progressFollowsTheRunningJobAndInterruptEndsTheBlockingCall() throws Exception {
        JsonNode idle = server.get("/sdapi/v1/progress").json();
        assertEquals(0.0, idle.get("progress").asDouble());
        for (String k : new String[] {"job_count", "job_no", "sampling_step", "sampling_steps", "interrupted", "skipped", "job", "job_timestamp"}) {
            assertTrue(idle.get("state").has(k), k);
        }
        CompletableFuture<TestServer.Response> call = CompletableFuture.supplyAsync(() ->
                server.post("/sdapi/v1/txt2img", txt2img(3).put("steps", 150)));
        JsonNode p = null;
        for (int i = 0; i < 400; i++) {
            p = server.get("/sdapi/v1/progress").json();
            if (p.get("state").get("sampling_step").asInt() > 1 && !p.get("current_image").isNull()) break;
            TestServer.sleep(25);
        }
        assertNotNull(p);
        assertTrue(p.get("progress").asDouble() > 0.01 && p.get("progress").asDouble() <= 1, p.toString());
        assertEquals(150, p.get("state").get("sampling_steps").asInt());
        assertNotNull(ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(p.get("current_image").asText()))),
                "current_image is the live preview");
        assertTrue(server.post("/sdapi/v1/interrupt", "").json().isObject());
        TestServer.Response r = call.get();
        assertEquals(200, r.status(), r.text()); // A1111 answers an interrupted call normally
        assertTrue(JSON.readTree(r.json().get("info").asText()).get("warnings").toString().contains("interrupted"));
        assertFalse(server.get("/sdapi/v1/progress").json().get("state").get("interrupted").asBoolean());
    }

    @Test
    void skipDropsTheCurrentImageAndGoesOnWithTheNext() throws Exception {
        CompletableFuture<TestServer.Response> call = CompletableFuture.supplyAsync(() ->
                server.post("/sdapi/v1/txt2img", txt2img(8).put("steps", 150).put("n_iter", 2)));
        for (int i = 0; i < 400; i++) {
            JsonNode state = server.get("/sdapi/v1/progress").json().get("state");
            if (state.get("job_no").asInt() == 0 && state.get("sampling_step").asInt() > 1) break;
            TestServer.sleep(25);
        }
        assertTrue(server.post("/sdapi/v1/skip", "").json().isObject());
        TestServer.Response r = call.get();
        assertEquals(200, r.status(), r.text());
        JsonNode info = JSON.readTree(r.json().get("info").asText());
        assertEquals(1, r.json().get("images").size(), "the first image was skipped, the second made");
        assertTrue(info.get("infotexts").get(0).asText().contains("Seed: 9"), info.toString());
    }
}
