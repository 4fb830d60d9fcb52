package jdiffusion.spark;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.prompts.LongPromptMode;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code spark-submit} entry point:
 *
 * <pre>
 * spark-submit --class jdiffusion.spark.SparkGenerationMain --conf spark.task.cpus=4 \
 *     --jars "$(ls lib/*.jar | paste -sd,)" jdiffusion-spark.jar --model /models/sd15 --input prompts.csv --output out/
 * </pre>
 *
 * Bad options and inputs end with one {@code error:} line and exit code 2.
 */
@Command(name = "jdiffusion-spark", mixinStandardHelpOptions = true,
        description = "Generates one image per row of a CSV / JSON-lines / Parquet table of requests on Spark.")
public final class SparkGenerationMain implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "diffusers folder (or single file) at this path on every executor")
    String model;

    @Option(names = "--tokenizer", description = "tokenizer folder for a single-file --model")
    String tokenizer;

    @Option(names = "--input", required = true, description = "the requests: .csv (header), .json/.jsonl (JSON lines) or Parquet")
    String input;

    @Option(names = "--output", required = true, description = "folder for the PNGs: a path or a Hadoop URI (hdfs://, s3a://)")
    String output;

    @Option(names = "--results", description = "result table (Parquet); default OUTPUT/results.parquet")
    String results;

    @Option(names = "--job-seed", defaultValue = "0", description = "seeds the rows without a seed, with their id (default ${DEFAULT-VALUE})")
    long jobSeed;

    @Option(names = "--dtype", defaultValue = "fp32", description = "fp32, bf16 or fp16 (default ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--variant", description = "weights variant, e.g. fp16")
    String variant;

    @Option(names = "--vae", description = "replacement VAE (folder or file) on every executor")
    String vae;

    @Option(names = "--lora-dir", description = "folder of LoRAs for <lora:NAME> tags and named loras entries, on every executor")
    String loraDir;

    @Option(names = "--long-prompts", defaultValue = "truncate", description = "truncate (diffusers) or chunk (AUTOMATIC1111)")
    String longPrompts;

    @Option(names = "--partitions", defaultValue = "0", description = "tasks to spread the rows over; 0 = four per core")
    int partitions;

    @Override
    public Integer call() {
        LongPromptMode mode = switch (longPrompts) {
            case "truncate" -> LongPromptMode.TRUNCATE;
            case "chunk" -> LongPromptMode.CHUNK;
            default -> throw new JDiffusionException("--long-prompts must be truncate or chunk, not " + longPrompts);
        };
        SparkGenerationOptions options = SparkGenerationOptions.builder(model, output).tokenizer(tokenizer)
                .dtype(dtype).variant(variant).vae(vae).loraDir(loraDir).longPrompts(mode).results(results)
                .jobSeed(jobSeed).partitions(partitions).build();
        boolean ours = SparkSession.getActiveSession().isEmpty() && SparkSession.getDefaultSession().isEmpty();
        SparkSession spark = SparkSession.builder().appName("jdiffusion-spark").getOrCreate();
        try {
            var report = SparkGeneration.run(spark, SparkGeneration.readRequests(spark, input), options);
            System.out.printf("%d rows: %d images, %d errors; %d model loads (%d ms); %.1f s -> %s%n", report.rows(),
                    report.rows() - report.errors(), report.errors(), report.modelLoads(), report.modelLoadMillis(),
                    report.elapsedMillis() / 1e3, options.results());
            return report.errors() == 0 ? 0 : 1;
        } finally {
            if (ours) spark.stop(); // a session the caller made (a notebook, a test) stays theirs
        }
    }

    public static void main(String[] args) {
        System.exit(execute(new PrintWriter(System.err, true), args));
    }

    /** Runs the command and returns its exit code: 0 all images made, 1 some rows failed, 2 bad input. */
    static int execute(PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new SparkGenerationMain());
        cl.setErr(err);
        cl.setExecutionExceptionHandler((e, line, parsed) -> {
            line.getErr().println("error: " + oneLine(e));
            return 2;
        });
        return cl.execute(args);
    }

    /** The first message a user can act on: ours, else the innermost cause's (Spark wraps task failures). */
    static String oneLine(Throwable e) {
        Throwable t = e;
        while (t != null) {
            if (t instanceof JDiffusionException) return t.getMessage();
            t = t.getCause();
        }
        Throwable root = e;
        while (root.getCause() != null) root = root.getCause();
        String m = root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
        return m.lines().findFirst().orElse(m);
    }
}
