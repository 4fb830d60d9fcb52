package jdiffusion.server;

import static jdiffusion.server.TestServer.JSON;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The security defaults: loopback bind, credentials, Origin and Host guards, limits, no path traversal. */
class ServerSecurityTest {
    static final String TOKEN = "s3cret-token-value";

    @Test
    void aNonLoopbackBindNeedsCredentialsOrInsecure(@TempDir Path out) {
        JDiffusionException e = assertThrows(JDiffusionException.class, () -> new ServerOptions("0.0.0.0", 0, null, null, false,
                TestServer.MODEL, null, null, null, out, 16, 1, 1 << 20, 150, 16, 1 << 20, 0, "auto", null));
        assertTrue(e.getMessage().contains("--token"), e.getMessage());
        new ServerOptions("0.0.0.0", 0, TOKEN, null, false, TestServer.MODEL, null, null, null, out, 16, 1, 1 << 20, 150, 16, 1 << 20, 0, "auto", null);
        new ServerOptions("0.0.0.0", 0, null, null, true, TestServer.MODEL, null, null, null, out, 16, 1, 1 << 20, 150, 16, 1 << 20, 0, "auto", null);
        assertEquals("127.0.0.1", ServerOptions.defaults(TestServer.MODEL, out).host());
        assertTrue(ServerOptions.isLoopback("localhost") && ServerOptions.isLoopback("::1") && !ServerOptions.isLoopback("10.0.0.1"));
    }

    @Test
    void theServeCommandRefusesANonLoopbackHostInOneLine(@TempDir Path out) {
        var cli = jdiffusion.cli.Main.commandLine();
        var err = new java.io.StringWriter();
        cli.setErr(new java.io.PrintWriter(err));
        int code = cli.execute("serve", "--host", "0.0.0.0", "--port", "0", "--outputs", out.toString());
        assertEquals(2, code);
        String text = err.toString().strip();
        assertTrue(text.startsWith("error: --host 0.0.0.0 is reachable from other machines") && !text.contains("\n"), text);
    }

    @Test
    void everyRouteNeedsTheTokenOrBasicCredentials(@TempDir Path out) throws Exception {
        try (TestServer s = TestServer.start(out, o -> o.withToken(TOKEN, "alice:wonder"))) {
            for (String path : new String[] {"/sdapi/v1/options", "/sdapi/v1/sd-models", "/v1/jobs", "/v1/images/x-0.png", "/nothing"}) {
                TestServer.Response r = s.get(path);
                assertEquals(401, r.status(), path);
                TestServer.assertClientError(r, path);
                assertFalse(r.text().contains(TOKEN), "the token is never echoed");
            }
            assertEquals(401, s.post("/sdapi/v1/txt2img", "{}").status());
            // the page's static files hold no data and load without credentials (a browser cannot send a header to open a page)
            TestServer.Response page = s.get("/");
            assertEquals(200, page.status());
            assertTrue(page.text().contains("<title>jdiffusion</title>") && !page.text().contains(TOKEN));
            s.authorization = "Bearer wrong";
            assertEquals(401, s.get("/sdapi/v1/options").status());
            s.authorization = "Bearer " + TOKEN;
            assertEquals(200, s.get("/sdapi/v1/options").status());
            s.authorization = "Basic " + Base64.getEncoder().encodeToString("alice:wonder".getBytes(StandardCharsets.UTF_8));
            assertEquals(200, s.get("/sdapi/v1/sd-models").status());
            s.authorization = "Basic " + Base64.getEncoder().encodeToString("alice:wrong".getBytes(StandardCharsets.UTF_8));
            assertEquals(401, s.get("/sdapi/v1/sd-models").status());

            // WebSocket: refused without credentials, accepted with ?token= (browsers cannot set headers on one)
            s.authorization = "Bearer " + TOKEN;
            String id = s.post("/v1/jobs", JSON.createObjectNode().put("prompt", "x").put("steps", 1).put("width", 64)
                    .put("height", 64).put("seed", 1)).json().get("id").asText();
            String ws = "ws://127.0.0.1:" + s.server.port() + "/v1/jobs/" + id + "/ws";
            ExecutionException refused = assertThrows(ExecutionException.class, () ->
                    s.http.newWebSocketBuilder().buildAsync(URI.create(ws), new WebSocket.Listener() {}).get(10, TimeUnit.SECONDS));
            assertTrue(refused.getCause() instanceof java.net.http.WebSocketHandshakeException h && h.getResponse().statusCode() == 401,
                    String.valueOf(refused.getCause()));
            WebSocket ok = s.http.newWebSocketBuilder().buildAsync(URI.create(ws + "?token=" + TOKEN), new WebSocket.Listener() {})
                    .get(10, TimeUnit.SECONDS);
            ok.abort();
            s.awaitJob(id, 60);
        }
    }

    @Test
    void foreignOriginsAreRefused(@TempDir Path out) {
        try (TestServer s = TestServer.start(out)) {
            String self = "http://127.0.0.1:" + s.server.port();
            TestServer.Response foreign = s.send(HttpRequest.newBuilder(s.uri("/sdapi/v1/options")).header("Origin", "https://evil.example"));
            assertEquals(403, foreign.status());
            TestServer.assertClientError(foreign, "foreign origin");
            assertEquals(403, s.send(HttpRequest.newBuilder(s.uri("/sdapi/v1/options")).header("Origin", "null")).status());
            assertEquals(200, s.send(HttpRequest.newBuilder(s.uri("/sdapi/v1/options")).header("Origin", self)).status());
        }
    }

    /** A DNS-rebinding page reaches 127.0.0.1 with its own name in Host (sent raw: the JDK client will not set Host). */
    @Test
    void guardRefusesANonLoopbackHost(@TempDir Path out) throws IOException {
        try (TestServer s = TestServer.start(out);
             var socket = new java.net.Socket("127.0.0.1", s.server.port())) {
            socket.getOutputStream().write(("GET /sdapi/v1/options HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(answer.startsWith("HTTP/1.1 403"), answer);
            assertTrue(answer.contains("forbidden_host"), answer);
        }
    }

    @Test
    void bodyAndPixelLimitsAndNoPathTraversal(@TempDir Path out) throws IOException {
        Files.writeString(out.getParent().resolve("secret.txt"), "TOPSECRET-CONTENT-42");
        try (TestServer s = TestServer.start(out, o -> o.withLimits(128L * 128, 50, 4, 256 * 1024))) {
            TestServer.Response big = s.post("/sdapi/v1/txt2img", "{\"prompt\": \"" + "a".repeat(300 * 1024) + "\"}");
            assertEquals(413, big.status(), big.text());
            TestServer.assertClientError(big, "body too large");

            TestServer.Response size = s.post("/sdapi/v1/txt2img", Map.of("width", 256, "height", 256));
            assertEquals(422, size.status());
            assertEquals("width", size.json().get("field").asText());

            // a tiny PNG that declares 30000 x 30000 pixels: refused from its header, before any decode
            String bomb = Base64.getEncoder().encodeToString(pngHeader(30000, 30000));
            long t0 = System.nanoTime();
            TestServer.Response r = s.post("/sdapi/v1/img2img", JSON.createObjectNode().put("width", 64).put("height", 64)
                    .set("init_images", JSON.createArrayNode().add(bomb)));
            assertEquals(422, r.status(), r.text());
            assertEquals("init_images", r.json().get("field").asText());
            assertTrue(r.json().get("detail").asText().contains("30000x30000"), r.text());
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L);

            for (String path : new String[] {"/v1/images/..%2Fsecret.txt", "/v1/images/%2Fetc%2Fpasswd", "/v1/images/../secret.txt",
                    "/v1/images/..%2F..%2Fetc%2Fpasswd", "/v1/images/x-0.png", "/v1/images/jobs.jsonl"}) {
                TestServer.Response t = s.get(path);
                assertEquals(404, t.status(), path + " " + t.text());
                assertFalse(t.text().contains("TOPSECRET"), path);
            }
        }
    }

    /** A PNG signature and an IHDR chunk declaring {@code w x h}, and nothing else. */
    static byte[] pngHeader(int w, int h) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream i = new DataOutputStream(ihdr);
        i.writeBytes("IHDR");
        i.writeInt(w);
        i.writeInt(h);
        i.write(new byte[] {8, 2, 0, 0, 0});
        byte[] chunk = ihdr.toByteArray();
        d.writeInt(13);
        d.write(chunk);
        CRC32 crc = new CRC32();
        crc.update(chunk);
        d.writeInt((int) crc.getValue());
        return b.toByteArray();
    }

}
