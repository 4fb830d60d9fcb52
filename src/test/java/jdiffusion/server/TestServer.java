package jdiffusion.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.UnaryOperator;

/**
 * A server on a free loopback port with the embedded tiny model, and a JDK HttpClient that talks
 * to it. Tests use small sizes (64x64) and few steps.
 */
final class TestServer implements AutoCloseable {
    static final String MODEL = "models/tiny-shapes";
    static final ObjectMapper JSON = new ObjectMapper();

    final JDiffusionServer server;
    final ServerOptions options;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    String authorization;

    private TestServer(ServerOptions options) {
        this.options = options;
        this.server = JDiffusionServer.start(options);
    }

    static TestServer start(Path outputs) {
        return start(outputs, o -> o);
    }

    static TestServer start(Path outputs, UnaryOperator<ServerOptions> change) {
        return new TestServer(change.apply(ServerOptions.defaults(MODEL, outputs).withPort(0)));
    }

    URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.port() + path);
    }

    record Response(int status, JsonNode json, byte[] bytes, HttpResponse<byte[]> raw) {
        String text() {
            return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    Response send(HttpRequest.Builder b) {
        if (authorization != null) b.header("Authorization", authorization);
        try {
            HttpResponse<byte[]> r = http.send(b.timeout(Duration.ofSeconds(120)).build(), HttpResponse.BodyHandlers.ofByteArray());
            JsonNode json = null;
            String type = r.headers().firstValue("Content-Type").orElse("");
            if (type.startsWith("application/json")) json = JSON.readTree(r.body());
            return new Response(r.statusCode(), json, r.body(), r);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    Response post(String path, Object body) {
        String text;
        try {
            text = body instanceof String s ? s : JSON.writeValueAsString(body);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return send(HttpRequest.newBuilder(uri(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(text)));
    }

    Response get(String path) {
        return send(HttpRequest.newBuilder(uri(path)).GET());
    }

    Response delete(String path) {
        return send(HttpRequest.newBuilder(uri(path)).DELETE());
    }

    /** Polls a job until it has ended; fails after {@code seconds}. */
    JsonNode awaitJob(String id, double seconds) {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            Response r = get("/v1/jobs/" + id);
            assertEquals(200, r.status(), r.text());
            String s = r.json().path("status").asText();
            if (s.equals("succeeded") || s.equals("failed") || s.equals("cancelled")) return r.json();
            sleep(50);
        }
        fail("job " + id + " did not end within " + seconds + " s");
        return null;
    }

    /** Polls until the job is running and has taken at least one step. */
    void awaitStep(String id, double seconds) {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            JsonNode j = get("/v1/jobs/" + id).json();
            if (j.path("status").asText().equals("running") && j.path("step").asInt() > 0) return;
            assertTrue(!j.path("status").asText().equals("succeeded"), "the job ended before it could be watched");
            sleep(20);
        }
        fail("job " + id + " did not start within " + seconds + " s");
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Asserts the server's error shape: a 4xx with JSON {error, detail, field}. */
    static void assertClientError(Response r, String context) {
        assertTrue(r.status() >= 400 && r.status() < 500, context + ": expected a 4xx, got " + r.status() + " " + r.text());
        assertTrue(r.json() != null && r.json().has("error") && r.json().has("detail") && r.json().has("field"),
                context + ": not the {error, detail, field} JSON: " + r.text());
    }

    @Override
    public void close() {
        server.close();
    }
}
