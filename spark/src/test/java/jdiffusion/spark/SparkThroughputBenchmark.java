package jdiffusion.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Throughput of 1 and 2 executors (one core each) on loopback standalone clusters, side by side in
 * one run, with the per-executor model-load time. Prints figures; asserts only that every row got
 * its image. Run: {@code ./run-tests --spark-only -Pslow -Dtest=SparkThroughputBenchmark}
 * ({@code -Dbench.rows=64 -Dbench.steps=25} by default).
 */
@Tag("slow")
class SparkThroughputBenchmark {
    @TempDir
    Path dir;

    @Test
    void oneVersusTwoExecutors() throws Exception {
        int rows = Integer.getInteger("bench.rows", 64);
        int steps = Integer.getInteger("bench.steps", 25);
        StringBuilder csv = new StringBuilder("id,prompt,seed,steps\n");
        String[] prompts = {"a red circle on a blue background", "a small green triangle at the top left",
            "a large yellow star", "a purple cross at the bottom"};
        for (int i = 0; i < rows; i++) csv.append("r").append(i).append(",").append(prompts[i % 4]).append(",").append(i).append(",").append(steps).append("\n");
        Path input = dir.resolve("prompts.csv");
        Files.writeString(input, csv);
        String[] lines = new String[2];
        for (int executors = 1; executors <= 2; executors++) {
            try (LoopbackCluster cluster = new LoopbackCluster(dir.resolve("home-" + executors), executors, 1)) {
                SparkSession spark = SparkSession.builder().master(cluster.masterUrl()).appName("bench-" + executors)
                        .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                        .config("spark.ui.enabled", "false").config("spark.executor.memory", "768m")
                        .config("spark.executor.cores", "1").config("spark.task.cpus", "1")
                        .config("spark.executorEnv.OMP_NUM_THREADS", "1").config("spark.executorEnv.OMP_WAIT_POLICY", "PASSIVE")
                        .getOrCreate();
                try {
                    // a warm-up job starts the executors and loads the model, so the timed job measures generation
                    Path warm = dir.resolve("warm-" + executors + ".csv");
                    StringBuilder w = new StringBuilder("id,prompt,steps\n");
                    for (int i = 0; i < 4 * executors; i++) w.append("w").append(i).append(",a shape,2\n");
                    Files.writeString(warm, w);
                    var warmup = SparkGeneration.run(spark, SparkGeneration.readRequests(spark, warm.toString()),
                            SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), dir.resolve("warm-out-" + executors).toString())
                                    .partitions(4 * executors).build());
                    double load = avg(warmup.modelLoadMillis(), warmup.modelLoads());
                    double loadAvg = loadAverage();
                    long start = System.nanoTime();
                    var report = SparkGeneration.run(spark, SparkGeneration.readRequests(spark, input.toString()),
                            SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), dir.resolve("out-" + executors).toString())
                                    .partitions(4 * executors).build());
                    double seconds = (System.nanoTime() - start) / 1e9;
                    assertEquals(rows, report.rows());
                    assertEquals(0, report.errors());
                    lines[executors - 1] = String.format(Locale.ROOT,
                            "%d executor(s) x 1 core: %d images (64x64, %d steps, CFG 7.5) in %.1f s = %.2f images/s; "
                                    + "model load %.0f ms per executor (%d loads); load average %.2f -> %.2f",
                            executors, rows, steps, seconds, rows / seconds, load, warmup.modelLoads(), loadAvg, loadAverage());
                } finally {
                    spark.stop();
                }
            }
        }
        System.out.println("SparkThroughputBenchmark on " + CpuFacts.cpu());
        for (String l : lines) System.out.println("  " + l);
    }

    private static double avg(long total, long n) {
        return n == 0 ? Double.NaN : (double) total / n;
    }

    static double loadAverage() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }
}
