package jdiffusion.spark;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Spark standalone cluster on 127.0.0.1 made of real processes: Spark's own {@code Master} and
 * {@code Worker} main classes in child JVMs started from this test's classpath, and the executors
 * that the workers start in turn. No Spark installation is needed: {@code SPARK_HOME} is a
 * scratch folder with an empty {@code jars/}, and the workers hand the executors this classpath
 * through {@code SPARK_DIST_CLASSPATH}.
 */
final class LoopbackCluster implements AutoCloseable {
    /** No test keeps a cluster longer; a process left behind by a crashed test JVM ends then. */
    static final Duration MAX_LIFE = Duration.ofMinutes(20);

    final int masterPort;
    final int masterWebPort;
    private final Path home;
    private final Process master;
    private final List<Process> workers = new ArrayList<>();
    private final List<Integer> workerWebPorts = new ArrayList<>();

    LoopbackCluster(Path home, int workers, int coresPerWorker) throws IOException, InterruptedException {
        this.home = home;
        Files.createDirectories(home.resolve("jars"));
        masterPort = freePort();
        masterWebPort = freePort();
        master = start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                "--port", Integer.toString(masterPort), "--webui-port", Integer.toString(masterWebPort));
        for (int i = 0; i < workers; i++) {
            workerWebPorts.add(freePort());
            this.workers.add(start("worker-" + i, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                    "--port", Integer.toString(freePort()), "--webui-port", Integer.toString(workerWebPorts.get(i)),
                    "--cores", Integer.toString(coresPerWorker), "--memory", "1g",
                    "--work-dir", home.resolve("work-" + i).toString(), masterUrl()));
        }
        awaitAliveWorkers(workers, Duration.ofMinutes(2));
    }

    String masterUrl() {
        return "spark://127.0.0.1:" + masterPort;
    }

    Process worker(int i) {
        return workers.get(i);
    }

    /**
     * The worker that started an executor, from the executor's log URL (which names its worker's
     * web UI: {@code http://127.0.0.1:PORT/logPage/...}); -1 when none matches.
     */
    int workerOf(String executorLogUrl) {
        for (int i = 0; i < workerWebPorts.size(); i++) {
            if (executorLogUrl.contains(":" + workerWebPorts.get(i) + "/")) return i;
        }
        return -1;
    }

    /** A machine lost: SIGKILL to the worker's JVM and the executors it started (and to its timeout wrapper). */
    void killWorker(int i) {
        Process w = workers.get(i);
        w.descendants().forEach(ProcessHandle::destroyForcibly);
        w.destroyForcibly();
    }

    String log(String name) throws IOException {
        return Files.readString(home.resolve(name + ".log"));
    }

    private Process start(String name, String mainClass, String... args) throws IOException {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>();
        // coreutils' timeout bounds the process's life even if this JVM dies without closing the cluster
        cmd.addAll(List.of("timeout", "-s", "KILL", Long.toString(MAX_LIFE.toSeconds())));
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of(System.getProperty("spark.moduleOptions", "").split(" ")));
        cmd.addAll(List.of("-Xmx256m", "-cp", classpath, mainClass));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(home.resolve(name + ".log").toFile());
        Map<String, String> env = pb.environment();
        env.put("SPARK_HOME", home.toString());
        env.put("SPARK_SCALA_VERSION", "2.13");
        env.put("SPARK_LOCAL_IP", "127.0.0.1");
        env.put("SPARK_DIST_CLASSPATH", classpath);
        env.put("JAVA_HOME", System.getProperty("java.home"));
        return pb.start();
    }

    private void awaitAliveWorkers(int n, Duration timeout) throws IOException, InterruptedException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + masterWebPort + "/json/"))
                .timeout(Duration.ofSeconds(5)).build();
        Pattern alive = Pattern.compile("\"aliveworkers\"\\s*:\\s*(\\d+)");
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!master.isAlive()) throw new IllegalStateException("the master died:\n" + log("master"));
            try {
                Matcher m = alive.matcher(http.send(req, HttpResponse.BodyHandlers.ofString()).body());
                if (m.find() && Integer.parseInt(m.group(1)) >= n) return;
            } catch (IOException notUpYet) {
                // the master's web UI is not listening yet
            }
            Thread.sleep(250);
        }
        throw new IllegalStateException(n + " workers did not register within " + timeout + ":\n" + log("master"));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() {
        for (Process w : workers) {
            w.descendants().forEach(ProcessHandle::destroyForcibly);
            w.destroyForcibly();
        }
        master.descendants().forEach(ProcessHandle::destroyForcibly);
        master.destroyForcibly();
        for (Process w : workers) waitFor(w);
        waitFor(master);
    }

    private static void waitFor(Process p) {
        try {
            p.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
