package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import jdiffusion.image.PngWriter;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The job API: 202/429, status, list, cancel, images, WebSocket events and previews, LoRA isolation. */
class JobApiTest {
    @TempDir
    static Path outputs;
    @TempDir
    static Path loras;
    static TestServer server;

    @BeforeAll
    static void start() {
        writeLoRA(loras.resolve("bold.safetensors"));
        server = TestServer.start(outputs, o -> o.withQueueSize(2).withDirs(null, loras, null).withLimits(1024L * 1024, 1000, 16, 64L << 20));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** A kohya LoRA on the tiny UNet's first attention's to_q (32 -> 32), large enough to change the picture. */
    static void writeLoRA(Path file) {
        TorchGenerator g = new TorchGenerator(11);
        String stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put(stem + ".lora_down.weight", g.randn(new long[] {4, 32}).mul(new Scalar(0.5)));
        t.put(stem + ".lora_up.weight", g.randn(new long[] {32, 4}).mul(new Scalar(0.5)));
        t.put(stem + ".alpha", Tensors.fromFloats(new float[] {4f}));
        SafetensorsWriter.write(file, t, Map.of("format", "pt"));
    }

    static ObjectNode job(long seed, int steps) {
        return JSON.createObjectNode().put("type", "txt2img").put("prompt", "a green square").put("seed", seed)
                .put("steps", steps).put("width", 64).put("height", 64);
    }

    @Test
    void submitPollAndFetchTheImages() throws Exception {
        TestServer.Response r = server.post("/v1/jobs", job(21, 3).put("batch_size", 2));
        assertEquals(202, r.status(), r.text());
        String id = r.json().get("id").asText();
        assertEquals("/v1/jobs/" + id, r.json().get("url").asText());
        assertTrue(r.json().has("queue_position") && r.json().has("status"));
        assertEquals("/v1/jobs/" + id, r.raw().headers().firstValue("Location").orElseThrow());
        JsonNode done = server.awaitJob(id, 60);
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        for (String f : new String[] {"id", "type", "status", "queue_position", "step", "steps", "progress", "eta_s",
                "created", "started", "finished", "error", "images", "parameters"}) {
            assertTrue(done.has(f), f);
        }
        assertEquals(1.0, done.get("progress").asDouble());
        assertEquals(2, done.get("images").size());
        TestServer.Response img = server.get(done.get("images").get(1).asText());
        assertEquals(200, img.status());
        assertEquals("image/png", img.raw().headers().firstValue("Content-Type").orElseThrow());
        assertEquals(64, ImageIO.read(new ByteArrayInputStream(img.bytes())).getWidth());
        String chunk = PngWriter.readText(outputs.resolve(id + "-1.png"), "parameters");
        assertTrue(chunk.contains("Seed: 22"), chunk);

        JsonNode list = server.get("/v1/jobs?status=succeeded&limit=500").json().get("jobs");
        assertTrue(list.size() >= 1);
        assertEquals(id, server.get("/v1/jobs?limit=1").json().get("jobs").get(0).get("id").asText(), "newest first");
        assertEquals(422, server.get("/v1/jobs?status=bogus").status());
        assertEquals(404, server.get("/v1/jobs/nope").status());
        assertEquals(409, server.delete("/v1/jobs/" + id).status(), "a finished job cannot be cancelled");
        assertEquals(404, server.delete("/v1/jobs/nope").status());
    }

    @Test
    void cancelQueuedAndRunningJobsAndRefuseAFullQueueWith429() {
        String running = server.post("/v1/jobs", job(1, 1000)).json().get("id").asText();
        server.awaitStep(running, 60);
        String a = server.post("/v1/jobs", job(2, 3)).json().get("id").asText();
        String b = server.post("/v1/jobs", job(3, 3)).json().get("id").asText();
        assertEquals(2, server.get("/v1/jobs/" + b).json().get("queue_position").asInt());
        TestServer.Response full = server.post("/v1/jobs", job(4, 3));
        assertEquals(429, full.status(), full.text());
        assertTrue(Long.parseLong(full.raw().headers().firstValue("Retry-After").orElseThrow()) >= 1);
        TestServer.assertClientError(full, "queue full");

        TestServer.Response cancelA = server.delete("/v1/jobs/" + a);
        assertEquals(200, cancelA.status());
        assertEquals("cancelled", cancelA.json().get("status").asText());
        assertEquals(1, server.get("/v1/jobs/" + b).json().get("queue_position").asInt(), "b moved up");

        TestServer.Response cancelRunning = server.delete("/v1/jobs/" + running);
        assertEquals(200, cancelRunning.status(), cancelRunning.text());
        JsonNode stopped = cancelRunning.json();
        assertEquals("cancelled", stopped.get("status").asText());
        assertTrue(stopped.get("step").asInt() < 1000, "it stopped early");
        assertEquals(0, stopped.get("images").size());
        assertEquals("succeeded", server.awaitJob(b, 60).get("status").asText(), "the queue goes on");
    }

    @Test
    void webSocketSendsEventsAndComfyUiPreviewFrames() throws Exception {
        String id = server.post("/v1/jobs", job(31, 6).put("n_iter", 2)).json().get("id").asText();
        List<String> texts = new CopyOnWriteArrayList<>();
        List<byte[]> frames = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> closed = new CompletableFuture<>();
        WebSocket ws = server.http.newWebSocketBuilder()
                .buildAsync(URI.create("ws://127.0.0.1:" + server.server.port() + "/v1/jobs/" + id + "/ws"), new WebSocket.Listener() {
                    final StringBuilder text = new StringBuilder();
                    final java.io.ByteArrayOutputStream bin = new java.io.ByteArrayOutputStream();

                    @Override
                    public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                        text.append(data);
                        if (last) {
                            texts.add(text.toString());
                            text.setLength(0);
                        }
                        w.request(1);
                        return null;
                    }

                    @Override
                    public CompletionStage<?> onBinary(WebSocket w, ByteBuffer data, boolean last) {
                        byte[] b = new byte[data.remaining()];
                        data.get(b);
                        bin.writeBytes(b);
                        if (last) {
                            frames.add(bin.toByteArray());
                            bin.reset();
                        }
                        w.request(1);
                        return null;
                    }

                    @Override
                    public CompletionStage<?> onClose(WebSocket w, int code, String reason) {
                        closed.complete(null);
                        return null;
                    }
                }).get(10, TimeUnit.SECONDS);
        closed.get(60, TimeUnit.SECONDS);
        List<String> types = new ArrayList<>();
        for (String t : texts) types.add(JSON.readTree(t).get("type").asText());
        assertTrue(types.contains("progress"), types.toString());
        assertEquals("succeeded", types.getLast(), types.toString());
        JsonNode progress = JSON.readTree(texts.stream().filter(t -> t.contains("\"progress\"")).findFirst().orElseThrow());
        assertTrue(progress.has("step") && progress.has("steps") && progress.has("eta_s"), progress.toString());
        assertTrue(!frames.isEmpty(), "preview frames");
        byte[] f = frames.getFirst();
        ByteBuffer header = ByteBuffer.wrap(f);
        assertEquals(1, header.getInt(), "ComfyUI event type 1 = preview image");
        assertEquals(1, header.getInt(), "image type 1 = JPEG");
        assertEquals((byte) 0xFF, f[8]);
        assertEquals((byte) 0xD8, f[9]);
        assertNotNull(ImageIO.read(new ByteArrayInputStream(f, 8, f.length - 8)));
        ws.abort();
    }

    @Test
    void aLoRAJobLeavesNothingBehindForThePlainJobAfterIt() throws Exception {
        String plainFirst = server.post("/v1/jobs", job(77, 3)).json().get("id").asText();
        assertEquals("succeeded", server.awaitJob(plainFirst, 60).get("status").asText());
        ObjectNode withLoRA = job(77, 3).put("prompt", "a green square <lora:bold:1.5>");
        String lora = server.post("/v1/jobs", withLoRA).json().get("id").asText();
        JsonNode l = server.awaitJob(lora, 60);
        assertEquals("succeeded", l.get("status").asText(), l.toString());
        String plainAfter = server.post("/v1/jobs", job(77, 3)).json().get("id").asText();
        assertEquals("succeeded", server.awaitJob(plainAfter, 60).get("status").asText());
        byte[] before = Files.readAllBytes(outputs.resolve(plainFirst + "-0.png"));
        byte[] changed = Files.readAllBytes(outputs.resolve(lora + "-0.png"));
        byte[] after = Files.readAllBytes(outputs.resolve(plainAfter + "-0.png"));
        assertArrayEquals(A1111ApiTest.pixels(ImageIO.read(new ByteArrayInputStream(before))),
                A1111ApiTest.pixels(ImageIO.read(new ByteArrayInputStream(after))), "the plain image exactly, after a LoRA job");
        assertTrue(!java.util.Arrays.equals(A1111ApiTest.pixels(ImageIO.read(new ByteArrayInputStream(before))),
                A1111ApiTest.pixels(ImageIO.read(new ByteArrayInputStream(changed)))), "the LoRA changed its own image");
        TestServer.Response missing = server.post("/v1/jobs", job(1, 2).put("prompt", "x <lora:absent:1>"));
        assertEquals(422, missing.status());
        assertEquals("prompt", missing.json().get("field").asText());
    }
}
