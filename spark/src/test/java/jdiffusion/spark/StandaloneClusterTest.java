package jdiffusion.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import jdiffusion.spark.LocalGenerationTest.Req;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.ExecutorLostFailure;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real standalone cluster on loopback (a master and two workers, each a process of its own):
 * one worker is killed with SIGKILL while the job runs, and the job still ends with exactly one
 * image per row, each the single-process library's, and no partial file.
 */
class StandaloneClusterTest {
    @TempDir
    Path dir;

    @Test
    void aWorkerKilledMidJobCostsNoImage() throws Exception {
        List<Req> rows = LocalGenerationTest.sixteenRows(LocalGenerationTest.initImage(dir)).stream()
                .map(r -> new Req(r.id(), r.prompt(), r.negative(), r.seed(), r.sampler(), 12, r.cfg(), r.width(),
                        r.height(), r.initImage(), r.strength()))
                .toList(); // 12 steps: long enough that the kill lands while tasks run
        Path csv = LocalGenerationTest.writeCsv(dir.resolve("prompts.csv"), rows);
        Path out = dir.resolve("out");

        try (LoopbackCluster cluster = new LoopbackCluster(dir.resolve("spark-home"), 2, 1)) {
            SparkSession spark = SparkSession.builder().master(cluster.masterUrl()).appName("StandaloneClusterTest")
                    .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.ui.enabled", "false").config("spark.executor.memory", "768m")
                    .config("spark.executor.cores", "1").config("spark.task.cpus", "1")
                    .config("spark.executorEnv.OMP_NUM_THREADS", "1").config("spark.executorEnv.OMP_WAIT_POLICY", "PASSIVE")
                    .config("spark.sql.shuffle.partitions", "4")
                    // registered before the executors are: their log URLs name their workers
                    .config("spark.extraListeners", ClusterEvents.class.getName()).getOrCreate();
            try {
                ClusterEvents events = ClusterEvents.current;
                var options = SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), out.toString())
                        .jobSeed(7).partitions(8).build();
                var job = CompletableFuture.supplyAsync(
                        () -> SparkGeneration.run(spark, SparkGeneration.readRequests(spark, csv.toString()), options));

                // 1. once images are being written, kill the worker whose executor is running a task
                int victim = -1;
                int imagesAtKill = 0;
                long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
                while (victim < 0) {
                    if (job.isDone()) job.get(); // a job that failed early says why
                    assertTrue(System.nanoTime() < deadline, "no image and busy executor within 3 minutes");
                    imagesAtKill = images(out);
                    if (imagesAtKill >= 1) {
                        for (var e : events.runningTasks.entrySet()) {
                            String url = events.logUrls.get(e.getKey());
                            if (e.getValue() > 0 && url != null && cluster.workerOf(url) >= 0) victim = cluster.workerOf(url);
                        }
                    }
                    if (victim < 0) Thread.sleep(20);
                }
                cluster.killWorker(victim);
                assertTrue(imagesAtKill < rows.size(), "killed mid-job: " + imagesAtKill + " of " + rows.size() + " done");

                // 2. the job completes on the surviving worker
                var report = job.get(5, TimeUnit.MINUTES);
                assertEquals(rows.size(), report.rows());
                assertEquals(0, report.errors());
                assertTrue(events.executorsLost.get() >= 1, "the driver saw the executor go");
                assertTrue(events.tasksLost.get() >= 1, "a running task was lost with it, and run again");
                // Spark drops the accumulator updates of failed tasks: the killed executor's load is not counted
                assertTrue(report.modelLoads() >= 1, "the surviving executor loaded the model: " + report.modelLoads());

                // 3. exactly one image per row, the library's bytes, nothing partial
                LocalGenerationTest.assertOnlyImages(out, rows.stream().map(Req::id).toList());
                Map<String, Row> results = LocalGenerationTest.byId(report.results());
                try (ReferenceImages reference = new ReferenceImages(dir)) {
                    for (Req r : rows) {
                        Row res = results.get(r.id());
                        assertNull(res.getAs("error"), r.id());
                        byte[] bytes = Files.readAllBytes(out.resolve(r.id() + ".png"));
                        assertArrayEquals(reference.png(LocalGenerationTest.request(r, res.getAs("seed"))), bytes, r.id());
                        assertEquals(GeneratePartition.sha256(bytes), res.getAs("sha256"));
                    }
                }
            } finally {
                spark.stop();
            }
        }
    }

    /**
     * What the driver saw, from the first moment of the SparkContext ({@code spark.extraListeners}):
     * each executor's log URL, its running tasks, lost executors and tasks lost with them.
     */
    public static final class ClusterEvents extends SparkListener {
        static volatile ClusterEvents current;
        final Map<String, String> logUrls = new ConcurrentHashMap<>();
        final Map<String, Integer> runningTasks = new ConcurrentHashMap<>();
        final AtomicInteger executorsLost = new AtomicInteger();
        final AtomicInteger tasksLost = new AtomicInteger();

        public ClusterEvents() {
            current = this;
        }

        @Override
        public void onExecutorAdded(SparkListenerExecutorAdded added) {
            var url = added.executorInfo().logUrlMap().get("stderr");
            if (url.isDefined()) logUrls.put(added.executorId(), url.get());
        }

        @Override
        public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
            executorsLost.incrementAndGet();
        }

        @Override
        public void onTaskStart(SparkListenerTaskStart start) {
            runningTasks.merge(start.taskInfo().executorId(), 1, Integer::sum);
        }

        @Override
        public void onTaskEnd(SparkListenerTaskEnd end) {
            runningTasks.merge(end.taskInfo().executorId(), -1, Integer::sum);
            if (end.reason() instanceof ExecutorLostFailure) tasksLost.incrementAndGet();
        }
    }

    private static int images(Path out) throws java.io.IOException {
        if (!Files.isDirectory(out)) return 0;
        try (Stream<Path> files = Files.list(out)) {
            return (int) files.filter(p -> p.toString().endsWith(".png")).count();
        }
    }
}
