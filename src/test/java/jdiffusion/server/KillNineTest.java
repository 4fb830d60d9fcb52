package jdiffusion.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fault test of the issue: {@code jdiffusion serve} in a child JVM accepts 10 jobs, is killed
 * with SIGKILL while one runs, is started again on the same outputs, and all 10 finish with the
 * images an uninterrupted server gives for the same bodies.
 */
@Tag("slow")
class KillNineTest {
    static final Pattern URL = Pattern.compile("jdiffusion serve: (http://\\S+/)");
    final HttpClient http = HttpClient.newHttpClient();

    record Child(Process process, String url) {}

    static Child serve(Path outputs, Path log) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElseThrow());
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream().filter(a -> !a.startsWith("-agentlib")).toList());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), "jdiffusion.cli.Main", "serve", "--port", "0",
                "--model", TestServer.MODEL, "--outputs", outputs.toString()));
        Process p = new ProcessBuilder(command).redirectError(log.toFile()).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null) {
            Matcher m = URL.matcher(line);
            if (m.find()) return new Child(p, m.group(1));
        }
        throw new IllegalStateException("the child server printed no URL; see " + log);
    }

    JsonNode call(String method, String url, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60));
        b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody()) : b.method(method, HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return TestServer.JSON.readTree(r.body());
    }

    static ObjectNode job(int i) {
        return TestServer.JSON.createObjectNode().put("type", "txt2img").put("prompt", "a purple circle").put("seed", 900 + i)
                .put("steps", 12).put("width", 64).put("height", 64);
    }

    @Test
    void tenAcceptedJobsSurviveKillNine(@TempDir Path out, @TempDir Path reference, @TempDir Path logs) throws Exception {
        Child first = serve(out, logs.resolve("first.log"));
        List<String> ids = new ArrayList<>();
        try {
            for (int i = 0; i < 10; i++) ids.add(call("POST", first.url() + "v1/jobs", job(i).toString()).get("id").asText());
            long end = System.nanoTime() + 120_000_000_000L;
            while (true) {
                JsonNode jobs = call("GET", first.url() + "v1/jobs?limit=20", null).get("jobs");
                long done = 0;
                boolean running = false;
                for (JsonNode j : jobs) {
                    if (j.get("status").asText().equals("succeeded")) done++;
                    if (j.get("status").asText().equals("running") && j.get("step").asInt() > 0) running = true;
                }
                if (done >= 2 && running) break;
                if (System.nanoTime() > end) fail("the child did not get going");
                Thread.sleep(20);
            }
        } finally {
            first.process().destroyForcibly(); // SIGKILL
            first.process().waitFor(30, TimeUnit.SECONDS);
        }
        Child second = serve(out, logs.resolve("second.log"));
        try {
            for (String id : ids) {
                long end = System.nanoTime() + 180_000_000_000L;
                JsonNode j;
                do {
                    j = call("GET", second.url() + "v1/jobs/" + id, null);
                    if (System.nanoTime() > end) fail("job " + id + " did not finish after the restart: " + j);
                    Thread.sleep(50);
                } while (!j.get("status").asText().equals("succeeded"));
            }
        } finally {
            second.process().destroy();
            second.process().waitFor(30, TimeUnit.SECONDS);
        }
        try (TestServer ref = TestServer.start(reference)) {
            for (int i = 0; i < 10; i++) {
                String id = ref.post("/v1/jobs", job(i)).json().get("id").asText();
                assertEquals("succeeded", ref.awaitJob(id, 60).get("status").asText());
                assertArrayEquals(JournalRestartTest.pixels(reference.resolve(id + "-0.png")),
                        JournalRestartTest.pixels(out.resolve(ids.get(i) + "-0.png")), "job " + i);
            }
        }
    }
}
