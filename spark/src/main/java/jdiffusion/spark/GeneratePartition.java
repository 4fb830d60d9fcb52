package jdiffusion.spark;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import javax.imageio.ImageIO;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.image.PngWriter;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.util.LongAccumulator;
import org.apache.spark.util.SerializableConfiguration;
import org.bytedeco.javacpp.PointerScope;

/**
 * One task: generates the images of its rows one after the other with this executor's pipeline
 * and writes each into the output folder as soon as it is done, returning one result row per
 * request row. A row that cannot be generated (bad values, a missing LoRA or init image, prompt
 * syntax) gets its {@code error}; a failure of the executor or the output filesystem fails the
 * task, which Spark then runs again (and which writes the same images again).
 */
final class GeneratePartition implements FlatMapFunction<Iterator<Row>, Row> {
    private final SparkGenerationOptions options;
    private final Broadcast<SerializableConfiguration> hadoopConf;
    private final LongAccumulator modelLoads;
    private final LongAccumulator modelLoadMillis;

    GeneratePartition(SparkGenerationOptions options, Broadcast<SerializableConfiguration> hadoopConf,
            LongAccumulator modelLoads, LongAccumulator modelLoadMillis) {
        this.options = options;
        this.hadoopConf = hadoopConf;
        this.modelLoads = modelLoads;
        this.modelLoadMillis = modelLoadMillis;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) throws IOException {
        Configuration conf = hadoopConf.value().value();
        ImageSink sink = new ImageSink(options.output(), conf);
        TaskContext task = TaskContext.get();
        int threads = task == null ? 1 : task.cpus();
        long attempt = task == null ? 0 : task.taskAttemptId();
        List<Row> results = new ArrayList<>();
        while (rows.hasNext()) {
            results.add(generate(rows.next(), sink, conf, threads, attempt));
        }
        return results.iterator();
    }

    private Row generate(Row row, ImageSink sink, Configuration conf, int threads, long attempt) throws IOException {
        long start = System.nanoTime();
        String id = RequestRow.idOf(row);
        Long seed = null;
        GenerationRequest request;
        try {
            RequestRow r = RequestRow.read(row);
            seed = r.effectiveSeed(options.jobSeed());
            request = request(r, seed, conf);
        } catch (JDiffusionException e) {
            return SparkGeneration.errorRow(id, seed, millisSince(start), e.getMessage());
        }
        // outside the row's error handling: a model that does not load fails the task, not the row
        ExecutorPipelines.Loaded loaded = ExecutorPipelines.get(ExecutorPipelines.key(options), threads, ms -> {
            modelLoads.add(1);
            modelLoadMillis.add(ms);
        });
        GenerationResult result;
        loaded.generating().lock();
        try (PointerScope scope = new PointerScope()) {
            result = loaded.pipeline().generate(request);
        } catch (JDiffusionException e) {
            return SparkGeneration.errorRow(id, seed, millisSince(start), e.getMessage());
        } catch (RuntimeException e) {
            // a libtorch error on this row's input: the next row may well succeed
            return SparkGeneration.errorRow(id, seed, millisSince(start), e.getClass().getSimpleName() + ": " + e.getMessage());
        } finally {
            loaded.generating().unlock();
        }
        BufferedImage image = result.images().getFirst();
        byte[] png = encode(image, result.parameters().getFirst().format());
        String path = sink.write(id + ".png", png, attempt);
        return SparkGeneration.imageRow(id, seed, path, sha256(png), image.getWidth(), image.getHeight(), millisSince(start));
    }

    private GenerationRequest request(RequestRow r, long seed, Configuration conf) {
        var b = GenerationRequest.builder(r.prompt()).seed(seed).longPrompts(options.longPrompts()).loras(r.loras());
        if (r.negativePrompt() != null) b.negativePrompt(r.negativePrompt());
        if (r.sampler() != null) b.sampler(r.sampler());
        if (r.steps() != null) b.steps(r.steps());
        if (r.cfgScale() != null) b.guidanceScale(r.cfgScale());
        if (r.width() != null) b.width(r.width());
        if (r.height() != null) b.height(r.height());
        if (r.strength() != null) b.strength(r.strength());
        if (options.loraDir() != null) b.loraDir(Path.of(options.loraDir()));
        if (r.initImage() != null) b.initImage(initImage(r.initImage(), conf));
        else if (r.strength() != null) throw new JDiffusionException("strength: given without an init_image");
        return b.build();
    }

    private static BufferedImage initImage(String location, Configuration conf) {
        byte[] bytes;
        try {
            bytes = ImageSink.read(location, conf);
        } catch (java.io.FileNotFoundException e) {
            throw new JDiffusionException("init_image: " + location + ": file not found");
        } catch (IOException | IllegalArgumentException e) {
            throw new JDiffusionException("init_image: " + location + " cannot be read: " + e.getMessage());
        }
        try {
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
            if (img == null) throw new JDiffusionException("init_image: " + location + " is not a PNG, JPEG, BMP or GIF image");
            return Images.toRgb(img);
        } catch (IOException e) {
            throw new JDiffusionException("init_image: " + location + " cannot be read as an image: " + e.getMessage());
        }
    }

    /** The PNG exactly as the library writes it (pixels and A1111 parameters), through a local scratch file. */
    private static byte[] encode(BufferedImage image, String parameters) {
        try {
            Path dir = Files.createTempDirectory("jdiffusion-spark-");
            Path file = dir.resolve("image.png");
            try {
                PngWriter.write(file, image, "parameters", parameters);
                return Files.readAllBytes(file);
            } finally {
                Files.deleteIfExists(file);
                Files.deleteIfExists(dir);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode a PNG in the local temporary folder: " + e.getMessage(), e);
        }
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    private static long millisSince(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }
}
