package jdiffusion.spark;

import java.io.Serializable;
import jdiffusion.JDiffusionException;
import jdiffusion.prompts.LongPromptMode;

/**
 * What a {@link SparkGeneration} job needs besides its rows: the model every executor loads, where
 * the images and the result table go, and the job seed that rows without a {@code seed} derive theirs from.
 *
 * <pre>{@code
 * var options = SparkGenerationOptions.builder("/models/sd15", "hdfs:///batches/2024-06/out").jobSeed(7).build();
 * }</pre>
 *
 * @param model       a diffusers folder (or single file with {@code tokenizer}) at the same path on every
 *                    executor; {@code StableDiffusionPipeline.load} reads it there
 * @param tokenizer   for a single-file model: a tokenizer folder on every executor; null otherwise
 * @param dtype       fp32 (default, exact), bf16 or fp16, as the CLI's {@code --dtype}
 * @param variant     a weights variant ({@code fp16}) or null
 * @param vae         a replacement VAE (folder or file) on every executor, or null
 * @param loraDir     where {@code <lora:NAME>} tags and named {@code loras} entries are looked up, or null
 * @param longPrompts TRUNCATE (diffusers) or CHUNK (AUTOMATIC1111's emphasis and 75-token chunks)
 * @param output      the images' folder: a local path or any Hadoop filesystem URI
 * @param results     the result table (Parquet); null = {@code output/results.parquet}
 * @param jobSeed     seeds rows that have none, with the row id (never time or partition order)
 * @param partitions  how many tasks the rows are spread over; 0 = four per core of the application
 */
public record SparkGenerationOptions(String model, String tokenizer, String dtype, String variant, String vae,
        String loraDir, LongPromptMode longPrompts, String output, String results, long jobSeed, int partitions)
        implements Serializable {

    public SparkGenerationOptions {
        if (model == null || model.isBlank()) throw new JDiffusionException("--model: no model given");
        if (output == null || output.isBlank()) throw new JDiffusionException("--output: no output location given");
        if (dtype == null) dtype = "fp32";
        if (!dtype.equals("fp32") && !dtype.equals("bf16") && !dtype.equals("fp16")) {
            throw new JDiffusionException("--dtype must be fp32, bf16 or fp16, not " + dtype);
        }
        if (longPrompts == null) longPrompts = LongPromptMode.TRUNCATE;
        if (results == null) results = output.replaceAll("/+$", "") + "/results.parquet";
        if (partitions < 0) throw new JDiffusionException("--partitions must be 0 (automatic) or more, not " + partitions);
    }

    public static Builder builder(String model, String output) {
        return new Builder(model, output);
    }

    public static final class Builder {
        private final String model;
        private final String output;
        private String tokenizer;
        private String dtype = "fp32";
        private String variant;
        private String vae;
        private String loraDir;
        private LongPromptMode longPrompts = LongPromptMode.TRUNCATE;
        private String results;
        private long jobSeed;
        private int partitions;

        private Builder(String model, String output) {
            this.model = model;
            this.output = output;
        }

        public Builder tokenizer(String v) { tokenizer = v; return this; }
        public Builder dtype(String v) { dtype = v; return this; }
        public Builder variant(String v) { variant = v; return this; }
        public Builder vae(String v) { vae = v; return this; }
        public Builder loraDir(String v) { loraDir = v; return this; }
        public Builder longPrompts(LongPromptMode v) { longPrompts = v; return this; }
        public Builder results(String v) { results = v; return this; }
        public Builder jobSeed(long v) { jobSeed = v; return this; }
        public Builder partitions(int v) { partitions = v; return this; }

        public SparkGenerationOptions build() {
            return new SparkGenerationOptions(model, tokenizer, dtype, variant, vae, loraDir, longPrompts, output,
                    results, jobSeed, partitions);
        }
    }
}
