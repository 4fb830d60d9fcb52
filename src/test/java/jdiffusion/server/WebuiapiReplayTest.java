package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Path;
import java.util.Base64;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bodies the {@code webuiapi} Python client (mix1009/sdwebuiapi, webuiapi/webuiapi.py) sends
 * from {@code txt2img()}, {@code img2img()} with a mask and {@code png_info()}, with the client's
 * defaults (sampler "Euler a", scheduler "automatic", eta 1.0, the hires and script fields ...),
 * replayed; the answers are read the way its {@code _to_api_result} reads them.
 */
class WebuiapiReplayTest {
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

    /** WebUIApi.txt2img(prompt=..., seed=..., steps=3, width=64, height=64): the payload dict it builds. */
    static ObjectNode txt2imgPayload(String prompt, long seed) throws Exception {
        return (ObjectNode) JSON.readTree("""
                {"enable_hr": false, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 0,
                 "hr_resize_x": 0, "hr_resize_y": 0, "hr_checkpoint_name": null, "hr_sampler_name": null,
                 "hr_scheduler": null, "hr_prompt": "", "hr_negative_prompt": "", "denoising_strength": 0.7,
                 "firstphase_width": 0, "firstphase_height": 0, "prompt": "%s", "styles": [], "seed": %d,
                 "subseed": -1, "subseed_strength": 0.0, "seed_resize_from_h": 0, "seed_resize_from_w": 0,
                 "batch_size": 1, "n_iter": 1, "steps": 3, "cfg_scale": 7.0, "width": 64, "height": 64,
                 "restore_faces": false, "tiling": false, "do_not_save_samples": false, "do_not_save_grid": false,
                 "negative_prompt": "", "eta": 1.0, "s_churn": 0, "s_tmax": 0, "s_tmin": 0, "s_noise": 1,
                 "override_settings": {}, "override_settings_restore_afterwards": true, "sampler_name": "Euler a",
                 "scheduler": "automatic", "sampler_index": "Euler a", "script_name": null, "script_args": [],
                 "send_images": true, "save_images": false, "alwayson_scripts": {}}
                """.formatted(prompt, seed));
    }

    /** WebUIApi.img2img(images=[img], mask_image=mask, ...): init images and mask as data URLs (its b64_img). */
    static ObjectNode img2imgPayload(BufferedImage image, BufferedImage mask) throws Exception {
        ObjectNode p = (ObjectNode) JSON.readTree("""
                {"init_images": [], "resize_mode": 0, "denoising_strength": 0.75, "mask_blur": 4, "inpainting_fill": 0,
                 "inpaint_full_res": true, "inpaint_full_res_padding": 0, "inpainting_mask_invert": 0,
                 "initial_noise_multiplier": 1, "prompt": "a red square", "styles": [], "seed": 5, "subseed": -1,
                 "subseed_strength": 0, "seed_resize_from_h": 0, "seed_resize_from_w": 0, "batch_size": 1, "n_iter": 1,
                 "steps": 3, "cfg_scale": 7.0, "image_cfg_scale": 1.5, "width": 64, "height": 64, "restore_faces": false,
                 "tiling": false, "do_not_save_samples": false, "do_not_save_grid": false, "negative_prompt": "",
                 "eta": 1.0, "s_churn": 0, "s_tmax": 0, "s_tmin": 0, "s_noise": 1, "override_settings": {},
                 "override_settings_restore_afterwards": true, "sampler_name": "Euler a", "scheduler": "automatic",
                 "sampler_index": "Euler a", "include_init_images": false, "script_name": null, "script_args": [],
                 "send_images": true, "save_images": false, "alwayson_scripts": {}}
                """);
        p.withArray("init_images").add("data:image/png;base64," + Base64Images.png(image));
        if (mask != null) p.put("mask", "data:image/png;base64," + Base64Images.png(mask));
        return p;
    }

    /** What webuiapi's _to_api_result does: 200 or it raises; images PIL-opened from base64; info json.loads'ed. */
    static JsonNode toApiResult(TestServer.Response r) throws Exception {
        assertEquals(200, r.status(), "webuiapi raises RuntimeError on anything but 200: " + r.text());
        for (JsonNode i : r.json().path("images")) {
            assertNotNull(ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(i.asText()))), "Image.open");
        }
        return r.json();
    }

    @Test
    void txt2imgAsWebuiapiSendsIt() throws Exception {
        JsonNode r = toApiResult(server.post("/sdapi/v1/txt2img", txt2imgPayload("a blue circle", 42)));
        assertEquals(1, r.get("images").size());
        JsonNode info = JSON.readTree(r.get("info").asText());
        assertEquals(42, info.get("seed").asLong());
        assertEquals("Euler a", info.get("sampler_name").asText());
        assertTrue(info.get("infotexts").get(0).asText().contains("Sampler: Euler a"));
        assertTrue(r.get("parameters").isObject());
    }

    @Test
    void inpaintingAsWebuiapiSendsIt() throws Exception {
        BufferedImage image = A1111ApiTest.square(64, Color.WHITE, Color.RED);
        BufferedImage mask = A1111ApiTest.square(64, Color.BLACK, Color.WHITE);
        JsonNode r = toApiResult(server.post("/sdapi/v1/img2img", img2imgPayload(image, mask)));
        JsonNode info = JSON.readTree(r.get("info").asText());
        assertTrue(info.get("warnings").toString().contains("inpaint_full_res"), "named, not silently honoured wrong");
        assertTrue(r.get("parameters").get("init_images").isNull());
        JsonNode plain = toApiResult(server.post("/sdapi/v1/img2img", img2imgPayload(image, null)));
        assertEquals(1, plain.get("images").size());
    }

    @Test
    void pngInfoInterruptProgressAndListsAsWebuiapiCallsThem() throws Exception {
        JsonNode gen = toApiResult(server.post("/sdapi/v1/txt2img", txt2imgPayload("a star", 9)));
        // png_info(image): {"image": b64_img(image)}; the answer has no "images" and its info is a plain string
        TestServer.Response info = server.post("/sdapi/v1/png-info",
                JSON.createObjectNode().put("image", "data:image/png;base64," + gen.get("images").get(0).asText()));
        JsonNode r = toApiResult(info);
        assertTrue(r.get("info").asText().startsWith("a star\nSteps: 3, Sampler: Euler a"), r.get("info").asText());
        assertEquals("9", r.get("parameters").get("Seed").asText());
        // interrupt(), skip(), get_progress(), get_options(), set_options(), get_samplers(), get_sd_models(): response.json()
        assertTrue(server.post("/sdapi/v1/interrupt", "").json().isObject());
        assertTrue(server.post("/sdapi/v1/skip", "").json().isObject());
        assertTrue(server.get("/sdapi/v1/progress").json().has("eta_relative"));
        assertTrue(server.get("/sdapi/v1/options").json().isObject());
        assertEquals(200, server.post("/sdapi/v1/options", JSON.createObjectNode().put("sd_model_checkpoint", "tiny-shapes")).status());
        assertTrue(server.get("/sdapi/v1/samplers").json().isArray());
        assertTrue(server.get("/sdapi/v1/sd-models").json().isArray());
        assertTrue(server.get("/sdapi/v1/sd-vae").json().isArray());
        assertTrue(server.get("/sdapi/v1/loras").json().isArray());
    }
}
