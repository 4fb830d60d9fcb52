package jdiffusion.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Locale;
import jdiffusion.JDiffusionException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.LongAccumulator;
import org.apache.spark.util.SerializableConfiguration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Generates one image per row of a request table on a Spark cluster: one pipeline per executor
 * JVM, the PNGs (with AUTOMATIC1111's parameters) written by the tasks straight into the output
 * folder, and a result table in Parquet. A row's image depends on the row alone (its seed, or
 * one derived from the job seed and its id), so it is the same on one machine or a hundred, and
 * when a task is retried.
 *
 * <pre>{@code
 * Dataset<Row> requests = SparkGeneration.readRequests(spark, "prompts.csv");
 * SparkGeneration.Report report = SparkGeneration.run(spark, requests,
 *         SparkGenerationOptions.builder("/models/sd15", "/data/out").jobSeed(7).build());
 * report.results().filter("error IS NOT NULL").show();
 * }</pre>
 */
public final class SparkGeneration {
    private static final Logger log = LoggerFactory.getLogger(SparkGeneration.class);

    /** The result table: one row per request row; {@code error} set (and no image) where it failed. */
    public static final StructType RESULT_SCHEMA = new StructType()
            .add("id", DataTypes.StringType)
            .add("seed", DataTypes.LongType)
            .add("path", DataTypes.StringType)
            .add("sha256", DataTypes.StringType)
            .add("width", DataTypes.IntegerType)
            .add("height", DataTypes.IntegerType)
            .add("elapsed_ms", DataTypes.LongType)
            .add("error", DataTypes.StringType);

    /**
     * What a run did.
     *
     * @param results         the result table, read back from its Parquet files
     * @param modelLoads      pipelines loaded by executors (one per executor JVM), counted in the tasks that
     *                        succeeded (Spark drops a failed task's accumulator updates)
     * @param modelLoadMillis their load times added up
     */
    public record Report(Dataset<Row> results, long rows, long errors, long modelLoads, long modelLoadMillis,
            long elapsedMillis) {}

    private SparkGeneration() {}

    /** Reads a request table by its extension: {@code .csv} (with a header), {@code .json}/{@code .jsonl} (JSON lines), else Parquet. */
    public static Dataset<Row> readRequests(SparkSession spark, String location) {
        String lower = location.toLowerCase(Locale.ROOT);
        if (lower.endsWith(".csv")) {
            // RFC 4180 quoting ("" inside quotes), so prompts may hold commas and quotes; multi-line prompts too
            return spark.read().option("header", "true").option("escape", "\"").option("multiLine", "true").csv(location);
        }
        if (lower.endsWith(".json") || lower.endsWith(".jsonl")) return spark.read().json(location);
        return spark.read().parquet(location);
    }

    /** Runs the job: generates every row's image, writes the result table, and returns it. */
    public static Report run(SparkSession spark, Dataset<Row> requests, SparkGenerationOptions options) {
        long start = System.nanoTime();
        // 0. the table's columns, checked before any executor works
        List<String> columns = List.of(requests.schema().fieldNames());
        for (String required : List.of("id", "prompt")) {
            if (!columns.contains(required)) {
                throw new JDiffusionException("the request table has no '" + required + "' column (it has " + columns + ")");
            }
        }
        List<String> unknown = RequestRow.unknownColumns(requests.schema());
        if (!unknown.isEmpty()) log.warn("columns not read (known: {}): {}", RequestRow.COLUMNS, unknown);
        checkUniqueIds(requests);

        // 1. absolute locations: executors resolve relative paths against their own working folders
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        String output = qualified(options.output(), conf);
        String results = qualified(options.results(), conf);
        if (exists(results, conf)) {
            throw new JDiffusionException("the result table " + results + " already exists; remove it or choose another --results");
        }
        SparkGenerationOptions resolved = new SparkGenerationOptions(options.model(), options.tokenizer(), options.dtype(),
                options.variant(), options.vae(), options.loraDir(), options.longPrompts(), output, results,
                options.jobSeed(), options.partitions());

        // 2. generate: tasks of a few rows each, so a lost executor costs little and both ends of the cluster stay busy
        int partitions = options.partitions() > 0 ? options.partitions() : 4 * spark.sparkContext().defaultParallelism();
        LongAccumulator loads = spark.sparkContext().longAccumulator("jdiffusion model loads");
        LongAccumulator loadMillis = spark.sparkContext().longAccumulator("jdiffusion model load ms");
        var hadoopConf = SerializableConfiguration.broadcast(spark.sparkContext());
        JavaRDD<Row> out = requests.repartition(partitions).javaRDD()
                .mapPartitions(new GeneratePartition(resolved, hadoopConf, loads, loadMillis));
        try {
            spark.createDataFrame(out, RESULT_SCHEMA).write().parquet(results); // the one action: each image is made once
        } catch (Throwable e) { // Scala's SparkException is a checked exception that Java does not see declared
            // a failed job leaves no result table (it did not exist before: checked above), so a rerun may start;
            // the images finished before the failure are whole and stay
            delete(results, conf);
            throw e;
        }

        // 3. what killed attempts left behind
        try {
            ImageSink.clean(output, conf);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove " + output + "/" + ImageSink.TEMPORARY + ": " + e.getMessage(), e);
        }
        Dataset<Row> table = spark.read().parquet(results);
        long rows = table.count();
        long errors = table.filter("error IS NOT NULL").count();
        long ms = (System.nanoTime() - start) / 1_000_000;
        log.info("{} rows, {} errors, {} model loads ({} ms), {} ms in all", rows, errors, loads.value(), loadMillis.value(), ms);
        return new Report(table, rows, errors, loads.value(), loadMillis.value(), ms);
    }

    private static void checkUniqueIds(Dataset<Row> requests) {
        List<Row> dup = requests.filter("id IS NOT NULL").groupBy("id").count().filter("count > 1").limit(5).collectAsList();
        if (!dup.isEmpty()) {
            throw new JDiffusionException("ids must be unique (each names an image), but these repeat: "
                    + dup.stream().map(r -> r.get(0) + " (" + r.getLong(1) + " times)").toList());
        }
    }

    private static String qualified(String location, Configuration conf) {
        try {
            Path p = new Path(location);
            return p.getFileSystem(conf).makeQualified(p).toString();
        } catch (IOException | IllegalArgumentException e) {
            throw new JDiffusionException("cannot use " + location + " as an output location: " + e.getMessage());
        }
    }

    private static boolean exists(String location, Configuration conf) {
        try {
            Path p = new Path(location);
            return p.getFileSystem(conf).exists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void delete(String location, Configuration conf) {
        try {
            Path p = new Path(location);
            p.getFileSystem(conf).delete(p, true);
        } catch (IOException e) {
            log.warn("cannot remove the unfinished result table {}: {}", location, e.getMessage());
        }
    }

    static Row imageRow(String id, long seed, String path, String sha256, int width, int height, long elapsedMs) {
        return RowFactory.create(id, seed, path, sha256, width, height, elapsedMs, null);
    }

    static Row errorRow(String id, Long seed, long elapsedMs, String error) {
        return RowFactory.create(id, seed, null, null, null, null, elapsedMs, error);
    }
}
