package jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import jdiffusion.tensor.NativeMemory;

/**
 * {@code jdiffusion bench-serve}: a server on a free loopback port and N concurrent clients for a
 * bounded number of requests (half job-API jobs polled to their end, half blocking A1111 txt2img
 * calls), then a run of cancelled jobs. Prints throughput, p50/p95 latency, 429s, 5xx (must be 0),
 * lost jobs (must be 0), and RSS at start/end and around the cancels, beside the CPU and the load
 * average. Client and server share this JVM, so RSS is the server's plus a small HTTP client.
 */
public final class ServeBenchmark {
    /** What to run; every count is bounded so the run ends by itself. */
    public record Config(String model, Path outputs, int clients, int requests, int steps, int size, int queueSize,
                         int cancels, double maxSeconds) {}

    private final Config config;
    private final ObjectMapper json = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private String base;

    public ServeBenchmark(Config config) {
        this.config = config;
    }

    /** Runs the benchmark and returns its report as text lines. */
    public List<String> run() throws Exception {
        ServerOptions options = ServerOptions.defaults(config.model(), config.outputs()).withPort(0)
                .withQueueSize(config.queueSize()).withLimits(4096L * 4096, 1000, 16, 64L << 20);
        List<String> report = new ArrayList<>();
        try (JDiffusionServer server = JDiffusionServer.start(options)) {
            base = "http://127.0.0.1:" + server.port();
            submitAndWait(body(1, config.steps())); // load the model and warm the kernels
            double[] loadBefore = loadAverage();

            // warm-up under the same concurrency (JIT, Jetty's threads, the heap), then the measured run
            load(config.clients(), Long.MAX_VALUE, 0);
            NativeMemory.trim();
            long rssStart = rss();
            long heapStart = Runtime.getRuntime().totalMemory();
            Load l = load(config.requests(), System.nanoTime() + (long) (config.maxSeconds() * 1e9), 1000);
            int lost = 0;
            for (String id : l.accepted()) {
                JsonNode j = json.readTree(get("/v1/jobs/" + id).body());
                if (!"succeeded".equals(j.path("status").asText())) lost++;
            }
            NativeMemory.trim();
            long rssEnd = rss();
            long heapEnd = Runtime.getRuntime().totalMemory();

            // cancel running jobs one after another: their native memory must come back
            long rssBeforeCancels = rss();
            int cancelled = 0;
            for (int i = 0; i < config.cancels(); i++) {
                String id = json.readTree(post("/v1/jobs", body(5000 + i, 1000)).body()).get("id").asText();
                while (true) {
                    JsonNode j = json.readTree(get("/v1/jobs/" + id).body());
                    if (j.path("status").asText().equals("running") && j.path("step").asInt() > 0) break;
                    Thread.sleep(5);
                }
                HttpResponse<String> d = http.send(HttpRequest.newBuilder(URI.create(base + "/v1/jobs/" + id)).DELETE().build(),
                        HttpResponse.BodyHandlers.ofString());
                if ("cancelled".equals(json.readTree(d.body()).path("status").asText())) cancelled++;
            }
            NativeMemory.trim();
            long rssAfterCancels = rss();

            List<Double> sorted = new ArrayList<>(l.latencies());
            Collections.sort(sorted);
            report.add("CPU: " + cpuModel() + ", AMX " + (hasAmx() ? "yes" : "no") + ", " + Runtime.getRuntime().availableProcessors()
                    + " logical CPUs; load average before " + load(loadBefore) + ", after " + load(loadAverage()));
            report.add(String.format(Locale.ROOT, "load: %d clients, %d requests (%d finished) of %dx%d, %d steps, tiny model %s, queue %d",
                    config.clients(), config.requests(), sorted.size(), config.size(), config.size(),
                    config.steps(), Path.of(config.model()).getFileName(), config.queueSize()));
            report.add(String.format(Locale.ROOT, "throughput: %.2f requests/s over %.1f s", sorted.size() / l.seconds(), l.seconds()));
            report.add(String.format(Locale.ROOT, "latency: p50 %.2f s, p95 %.2f s (submit to last image, queueing included)",
                    percentile(sorted, 0.50), percentile(sorted, 0.95)));
            report.add("429: " + l.tooMany() + " (each retried after Retry-After), 5xx: " + l.serverErrors() + " (must be 0), other failures: "
                    + l.otherErrors() + ", lost jobs: " + lost + " of " + l.accepted().size() + " accepted (must be 0)");
            report.add(String.format(Locale.ROOT, "RSS: start %.0f MB, end %.0f MB (%+.1f %%); of which Java heap committed %.0f -> %.0f MB,"
                            + " the rest (native: libtorch, models, Jetty) %.0f -> %.0f MB (%+.1f %%)", rssStart / 1e6, rssEnd / 1e6,
                    100.0 * (rssEnd - rssStart) / rssStart, heapStart / 1e6, heapEnd / 1e6, (rssStart - heapStart) / 1e6,
                    (rssEnd - heapEnd) / 1e6, 100.0 * ((rssEnd - heapEnd) - (rssStart - heapStart)) / (rssStart - heapStart)));
            report.add(String.format(Locale.ROOT, "cancels: %d of %d running jobs cancelled; RSS %.0f MB before, %.0f MB after (%+.1f %%)",
                    cancelled, config.cancels(), rssBeforeCancels / 1e6, rssAfterCancels / 1e6,
                    100.0 * (rssAfterCancels - rssBeforeCancels) / rssBeforeCancels));
        }
        return report;
    }

    /** What one load run saw. */
    private record Load(List<Double> latencies, List<String> accepted, int tooMany, int serverErrors, int otherErrors, double seconds) {}

    /**
     * {@code requests} requests from {@code config.clients()} clients, half job-API jobs (polled to
     * their end), half blocking A1111 calls; a 429 is counted and the same request retried after
     * the server's Retry-After (capped at 1 s here).
     */
    private Load load(int requests, long deadline, long seedBase) throws InterruptedException {
        ConcurrentLinkedQueue<Double> latencies = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<String> accepted = new ConcurrentLinkedQueue<>();
        AtomicInteger issued = new AtomicInteger();
        AtomicInteger tooMany = new AtomicInteger();
        AtomicInteger serverErrors = new AtomicInteger();
        AtomicInteger otherErrors = new AtomicInteger();
        long t0 = System.nanoTime();
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < config.clients(); c++) {
                pool.submit(() -> {
                    int n;
                    while ((n = issued.getAndIncrement()) < requests && System.nanoTime() < deadline) {
                        long start = System.nanoTime();
                        try {
                            HttpResponse<String> r;
                            while (true) {
                                r = n % 2 == 0 ? post("/v1/jobs", body(seedBase + n, config.steps()))
                                        : post("/sdapi/v1/txt2img", body(seedBase + n, config.steps()));
                                if (r.statusCode() != 429 || System.nanoTime() > deadline) break;
                                tooMany.incrementAndGet();
                                long wait = Math.min(1000, 1000 * Long.parseLong(r.headers().firstValue("Retry-After").orElse("1")));
                                Thread.sleep(wait);
                            }
                            if (r.statusCode() >= 500) serverErrors.incrementAndGet();
                            if (r.statusCode() == 202) {
                                String id = json.readTree(r.body()).get("id").asText();
                                accepted.add(id);
                                awaitEnd(id);
                            } else if (r.statusCode() != 200) {
                                otherErrors.incrementAndGet();
                                continue;
                            }
                            latencies.add((System.nanoTime() - start) / 1e9);
                        } catch (Exception e) {
                            otherErrors.incrementAndGet();
                        }
                    }
                    return null;
                });
            }
        }
        return new Load(List.copyOf(latencies), List.copyOf(accepted), tooMany.get(), serverErrors.get(), otherErrors.get(),
                (System.nanoTime() - t0) / 1e9);
    }

    private ObjectNode body(long seed, int steps) {
        return json.createObjectNode().put("prompt", "a red circle on a blue background").put("seed", seed).put("steps", steps)
                .put("width", config.size()).put("height", config.size());
    }

    private void submitAndWait(ObjectNode body) throws Exception {
        awaitEnd(json.readTree(post("/v1/jobs", body).body()).get("id").asText());
    }

    private void awaitEnd(String id) throws Exception {
        while (true) {
            String s = json.readTree(get("/v1/jobs/" + id).body()).path("status").asText();
            if (s.equals("succeeded") || s.equals("failed") || s.equals("cancelled")) return;
            Thread.sleep(50);
        }
    }

    private HttpResponse<String> post(String path, ObjectNode body) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofMinutes(10))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    private static double percentile(List<Double> sorted, double p) {
        if (sorted.isEmpty()) return Double.NaN;
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1));
    }

    static long rss() throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmRSS:")) return Long.parseLong(l.replaceAll("\\D+", "")) * 1024;
        }
        return -1;
    }

    static double[] loadAverage() throws IOException {
        String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
        return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2])};
    }

    private static String load(double[] l) {
        return String.format(Locale.ROOT, "%.2f/%.2f/%.2f", l[0], l[1], l[2]);
    }

    private static String cpuModel() throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (l.startsWith("model name")) return l.substring(l.indexOf(':') + 1).trim();
        }
        return "unknown";
    }

    private static boolean hasAmx() throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
            if (l.startsWith("flags")) return l.contains(" amx_tile");
        }
        return false;
    }
}
