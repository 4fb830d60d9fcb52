package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Over 200 generated malformed requests - wrong types, missing and absurd values, NaN, deep
 * nesting, 10 MB strings, broken base64, non-images, truncated JSON - each must get a 4xx JSON
 * {error, detail, field}, never a 5xx, a hang or a dead worker; a good request works afterwards.
 */
class MalformedRequestsTest {
    record Case(String name, Supplier<TestServer.Response> send) {}

    @Test
    void everyMalformedRequestGetsA4xxJsonAndTheServerKeepsServing(@TempDir Path out) throws Exception {
        try (TestServer s = TestServer.start(out)) {
            List<Case> cases = cases(s);
            assertTrue(cases.size() >= 200, "only " + cases.size() + " cases");
            List<String> failures = new ArrayList<>();
            for (Case c : cases) {
                TestServer.Response r = c.send().get();
                boolean ok = r.status() >= 400 && r.status() < 500 && r.json() != null && r.json().has("error")
                        && r.json().has("detail") && r.json().has("field") && !r.text().contains("\tat ");
                if (!ok) failures.add(c.name() + " -> " + r.status() + " " + r.text().substring(0, Math.min(300, r.text().length())));
            }
            assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " malformed requests were not a 4xx JSON:\n"
                    + String.join("\n", failures));
            TestServer.Response good = s.post("/sdapi/v1/txt2img", base().put("steps", 2));
            assertEquals(200, good.status(), good.text());
            assertEquals(1, good.json().get("images").size());
            String id = s.post("/v1/jobs", base()).json().get("id").asText();
            assertEquals("succeeded", s.awaitJob(id, 60).get("status").asText(), "the worker is alive");
        }
    }

    static ObjectNode base() {
        return JSON.createObjectNode().put("prompt", "a shape").put("seed", 1).put("steps", 1).put("width", 64).put("height", 64);
    }

    static ObjectNode img2img() {
        ObjectNode b = base();
        b.putArray("init_images").add(Base64Images.png(A1111ApiTest.square(64, Color.BLUE, Color.RED)));
        return b;
    }

    static List<Case> cases(TestServer s) throws Exception {
        List<Case> c = new ArrayList<>();
        JsonNode[] notInts = {JSON.readTree("\"abc\""), JSON.readTree("[]"), JSON.readTree("{}"), JSON.readTree("true"),
                JSON.readTree("1.5"), JSON.readTree("-999999999999"), JSON.readTree("1e300"), JSON.readTree("\"NaN\""),
                JSON.readTree("\"Infinity\""), JSON.readTree("99999999999999999999999")};
        for (String f : new String[] {"seed", "steps", "width", "height", "batch_size", "n_iter"}) {
            for (JsonNode v : notInts) add(c, s, "/sdapi/v1/txt2img", f + "=" + v, base().set(f, v));
        }
        JsonNode[] notNumbers = {JSON.readTree("\"abc\""), JSON.readTree("[]"), JSON.readTree("{}"), JSON.readTree("true"),
                JSON.readTree("-1"), JSON.readTree("1e308"), JSON.readTree("\"NaN\""), JSON.readTree("\"-Infinity\"")};
        for (String f : new String[] {"cfg_scale", "eta", "subseed_strength"}) {
            for (JsonNode v : notNumbers) add(c, s, "/sdapi/v1/txt2img", f + "=" + v, base().set(f, v));
        }
        for (JsonNode v : notNumbers) add(c, s, "/sdapi/v1/img2img", "denoising_strength=" + v, img2img().set("denoising_strength", v));
        JsonNode[] notText = {JSON.readTree("1"), JSON.readTree("true"), JSON.readTree("[]"), JSON.readTree("{}"), JSON.readTree("1.5")};
        for (String f : new String[] {"prompt", "negative_prompt", "sampler_name", "scheduler", "force_task_id"}) {
            for (JsonNode v : notText) add(c, s, "/sdapi/v1/txt2img", f + "=" + v, base().set(f, v));
        }
        for (String f : new String[] {"send_images", "save_images"}) {
            for (String v : new String[] {"\"maybe\"", "2", "[]", "{}"}) add(c, s, "/sdapi/v1/txt2img", f + "=" + v, base().set(f, JSON.readTree(v)));
        }
        for (String v : new String[] {"\"x\"", "1", "[]", "{\"sd_model_checkpoint\": 5}", "{\"sd_model_checkpoint\": \"../../etc/passwd\"}",
                "{\"CLIP_stop_at_last_layers\": 99}"}) {
            add(c, s, "/sdapi/v1/txt2img", "override_settings=" + v, base().set("override_settings", JSON.readTree(v)));
        }
        add(c, s, "/sdapi/v1/txt2img", "enable_hr", base().put("enable_hr", true));
        add(c, s, "/sdapi/v1/txt2img", "tiling", base().put("tiling", true));
        add(c, s, "/sdapi/v1/txt2img", "script_name", base().put("script_name", "x/y/z plot"));
        add(c, s, "/sdapi/v1/txt2img", "seed_resize_from_w", base().put("seed_resize_from_w", 100));
        add(c, s, "/sdapi/v1/txt2img", "sampler unknown", base().put("sampler_name", "Euler b"));
        add(c, s, "/sdapi/v1/txt2img", "scheduler unknown", base().put("scheduler", "exponential"));
        add(c, s, "/sdapi/v1/txt2img", "size not multiple of 8", base().put("width", 65));
        add(c, s, "/sdapi/v1/txt2img", "size too big", base().put("width", 8192).put("height", 8192));
        add(c, s, "/sdapi/v1/txt2img", "steps absurd", base().put("steps", 100000));
        add(c, s, "/sdapi/v1/txt2img", "batch absurd", base().put("batch_size", 10).put("n_iter", 10));
        add(c, s, "/sdapi/v1/txt2img", "control character", base().put("prompt", "a\u0001b"));
        add(c, s, "/sdapi/v1/txt2img", "unknown lora", base().put("prompt", "a <lora:nothing:1>"));
        add(c, s, "/sdapi/v1/txt2img", "task id with slash", base().put("force_task_id", "../x"));
        add(c, s, "/sdapi/v1/img2img", "resize_mode 3", img2img().put("resize_mode", 3));

        // images
        String png = Base64Images.png(A1111ApiTest.square(64, Color.BLUE, Color.RED));
        String[] badImages = {"!!!!", "data:image/png,abc", png.substring(0, png.length() / 2), Base64.getEncoder().encodeToString("hello".getBytes()),
                Base64.getEncoder().encodeToString(ServerSecurityTest.pngHeader(40000, 40000)), ""};
        for (String v : badImages) add(c, s, "/sdapi/v1/img2img", "init_images=[" + v.substring(0, Math.min(20, v.length())) + "]",
                base().set("init_images", JSON.createArrayNode().add(v)));
        add(c, s, "/sdapi/v1/img2img", "init_images missing", base());
        add(c, s, "/sdapi/v1/img2img", "init_images not a list", base().put("init_images", png));
        add(c, s, "/sdapi/v1/img2img", "init_images empty", base().set("init_images", JSON.createArrayNode()));
        add(c, s, "/sdapi/v1/img2img", "init_images [1]", base().set("init_images", JSON.createArrayNode().add(1)));
        add(c, s, "/sdapi/v1/img2img", "init_images two", base().set("init_images", JSON.createArrayNode().add(png).add(png)));
        for (String v : new String[] {"!!!", Base64Images.png(A1111ApiTest.square(32, Color.BLACK, Color.WHITE)),
                Base64.getEncoder().encodeToString("not an image".getBytes())}) {
            add(c, s, "/sdapi/v1/img2img", "mask=" + v.substring(0, Math.min(12, v.length())), img2img().put("mask", v));
        }
        add(c, s, "/sdapi/v1/img2img", "mask number", img2img().put("mask", 5));
        String mask = Base64Images.png(A1111ApiTest.square(64, Color.BLACK, Color.WHITE));
        for (int fill : new int[] {2, 3, 9}) add(c, s, "/sdapi/v1/img2img", "inpainting_fill " + fill, img2img().put("mask", mask).put("inpainting_fill", fill));
        for (int blur : new int[] {-1, 1000}) add(c, s, "/sdapi/v1/img2img", "mask_blur " + blur, img2img().put("mask", mask).put("mask_blur", blur));
        add(c, s, "/sdapi/v1/img2img", "inpainting_mask_invert 5", img2img().put("mask", mask).put("inpainting_mask_invert", 5));

        // bodies that are not the JSON object asked for
        String deep = "[".repeat(5000) + "]".repeat(5000);
        String deepObject = "{\"prompt\": " + "{\"a\": ".repeat(3000) + "1" + "}".repeat(3000) + "}";
        String[] raw = {"", "{", "[1,2]", "42", "\"str\"", "null", "{\"prompt\": NaN}", deep, deepObject, "not json", "{}x",
                "{\"prompt\": \"a\",}"};
        for (String route : new String[] {"/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/v1/jobs", "/sdapi/v1/png-info"}) {
            for (String body : raw) c.add(new Case(route + " raw " + body.substring(0, Math.min(15, body.length())), () -> s.post(route, body)));
            c.add(new Case(route + " invalid UTF-8", () -> s.send(HttpRequest.newBuilder(s.uri(route))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[] {'{', '"', 'p', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'})))));
        }
        String tenMB = "a".repeat(10 << 20);
        add(c, s, "/sdapi/v1/txt2img", "10 MB prompt", base().put("prompt", tenMB));
        add(c, s, "/sdapi/v1/txt2img", "10 MB negative prompt", base().put("negative_prompt", tenMB));
        add(c, s, "/sdapi/v1/txt2img", "10 MB sampler", base().put("sampler_name", tenMB));
        add(c, s, "/sdapi/v1/img2img", "10 MB init image", base().set("init_images", JSON.createArrayNode().add("A" + tenMB)));
        add(c, s, "/sdapi/v1/img2img", "10 MB mask", img2img().put("mask", "A".repeat(10 << 20)));

        // the job API
        for (String t : new String[] {"\"bogus\"", "5", "\"IMG2IMG\"", "[]"}) add(c, s, "/v1/jobs", "type=" + t, base().set("type", JSON.readTree(t)));
        add(c, s, "/v1/jobs", "inpaint without mask", img2img().put("type", "inpaint"));
        add(c, s, "/v1/jobs", "steps 0", base().put("steps", 0));
        for (String q : new String[] {"status=x", "limit=-1", "limit=abc", "offset=-3", "limit=100000", "offset=1e3"}) {
            c.add(new Case("list " + q, () -> s.get("/v1/jobs?" + q)));
        }
        c.add(new Case("get unknown job", () -> s.get("/v1/jobs/unknown")));
        c.add(new Case("delete unknown job", () -> s.delete("/v1/jobs/unknown")));
        c.add(new Case("unknown route", () -> s.get("/sdapi/v1/nothing")));
        c.add(new Case("GET on a POST route", () -> s.get("/sdapi/v1/txt2img")));
        c.add(new Case("PUT /v1/jobs", () -> s.send(HttpRequest.newBuilder(s.uri("/v1/jobs")).PUT(HttpRequest.BodyPublishers.ofString("{}")))));

        // png-info and options
        for (String b : new String[] {"{\"image\": 5}", "{\"image\": \"!!!\"}", "{\"image\": \"aGVsbG8=\"}", "{}", "{\"image\": \"\"}"}) {
            c.add(new Case("png-info " + b, () -> s.post("/sdapi/v1/png-info", b)));
        }
        for (String b : new String[] {"{\"sd_model_checkpoint\": 5}", "{\"CLIP_stop_at_last_layers\": \"abc\"}",
                "{\"CLIP_stop_at_last_layers\": 0}", "[1]", "\"x\"", "{\"sd_model_checkpoint\": \"/etc/passwd\"}"}) {
            c.add(new Case("options " + b, () -> s.post("/sdapi/v1/options", b)));
        }
        return c;
    }

    private static void add(List<Case> c, TestServer s, String route, String name, ObjectNode body) {
        byte[] bytes = body.toString().getBytes(StandardCharsets.UTF_8);
        c.add(new Case(route + " " + name, () -> s.send(HttpRequest.newBuilder(s.uri(route))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(bytes)))));
    }
}
