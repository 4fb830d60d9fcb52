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
import org.apache.spark.scheduler.SparkListener;
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
                    .config("spark.sql.shuffle.partitions", "4").getOrCreate();
            try {
                AtomicInteger executorsLost = new AtomicInteger();
                spark.sparkContext().addSparkListener(new SparkListener() {
                    @Override
                    public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
                        executorsLost.incrementAndGet();
                    }
                });
                var options = SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), out.toString())
                        .jobSeed(7).partitions(8).build();
                var job = CompletableFuture.supplyAsync(
                        () -> SparkGeneration.run(spark, SparkGeneration.readRequests(spark, csv.toString()), options));

                // 1. kill worker 0 (and its executor) as soon as the first images are in place
                int imagesAtKill = awaitImages(out, 2, Duration.ofMinutes(3), job);
                cluster.killWorker(0);
                assertTrue(imagesAtKill < rows.size(), "killed mid-job: " + imagesAtKill + " of " + rows.size() + " done");

                // 2. the job completes on the surviving worker
                var report = job.get(5, TimeUnit.MINUTES);
                assertEquals(rows.size(), report.rows());
                assertEquals(0, report.errors());
                assertTrue(executorsLost.get() >= 1, "the driver saw the executor go");
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

    /** Waits until {@code n} images are in {@code out} and returns how many there are. */
    private static int awaitImages(Path out, int n, Duration timeout, CompletableFuture<?> job) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (job.isDone()) job.get(); // a job that failed early says why
            if (Files.isDirectory(out)) {
                try (Stream<Path> files = Files.list(out)) {
                    int count = (int) files.filter(p -> p.toString().endsWith(".png")).count();
                    if (count >= n) return count;
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no images after " + timeout);
    }
}
