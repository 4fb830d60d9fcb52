package jdiffusion.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.lora.LoRASpec;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import jdiffusion.image.Images;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.prompts.LongPromptMode;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The job on {@code local[2]}: the library's own images, one per row, and per-row errors. */
class LocalGenerationTest {
    static SparkSession spark;
    static ReferenceImages reference;

    @TempDir
    static Path dir;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("LocalGenerationTest")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
        reference = new ReferenceImages(dir);
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
        if (reference != null) reference.close();
    }

    /** One request row of the test table; null = column left empty. */
    record Req(String id, String prompt, String negative, Long seed, String sampler, Integer steps, Double cfg,
            Integer width, Integer height, String initImage, Double strength) {}

    static List<Req> sixteenRows(Path initImage) {
        String[] prompts = {"a red circle on a blue background", "a small green triangle at the top left",
            "a yellow star, on a \"black\" background", "a shape", "a large blue square in the centre",
            "a purple cross at the bottom", "an orange diamond on a white background", "a circle"};
        String[] samplers = {null, "Euler a", "DPM++ 2M Karras", "DDIM"};
        List<Req> rows = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            Long seed = i % 3 == 0 ? null : 1000L + i; // every third row's seed comes from the job seed and its id
            boolean img2img = i == 5 || i == 11;
            rows.add(new Req(String.format("row-%02d", i), prompts[i % prompts.length], i % 4 == 1 ? "blurry" : null,
                    seed, samplers[i % samplers.length], 3 + i % 3, i % 5 == 4 ? 1.0 : 7.5,
                    i == 7 ? 32 : null, i == 7 ? 48 : null, img2img ? initImage.toString() : null, img2img ? 0.6 : null));
        }
        return rows;
    }

    static Path writeCsv(Path file, List<Req> rows) throws IOException {
        StringBuilder csv = new StringBuilder("id,prompt,negative_prompt,seed,sampler,steps,cfg_scale,width,height,init_image,strength\n");
        for (Req r : rows) {
            csv.append(String.join(",", r.id(), quote(r.prompt()), quote(r.negative()), str(r.seed()), quote(r.sampler()),
                    str(r.steps()), str(r.cfg()), str(r.width()), str(r.height()), quote(r.initImage()), str(r.strength())))
                    .append('\n');
        }
        Files.writeString(file, csv);
        return file;
    }

    private static String quote(String s) {
        return s == null ? "" : "\"" + s.replace("\"", "\"\"") + "\"";
    }

    private static String str(Object o) {
        return o == null ? "" : o.toString();
    }

    /** The request the library's user would write by hand for the row. */
    static GenerationRequest request(Req r, long seed) {
        var b = GenerationRequest.builder(r.prompt()).seed(seed).steps(r.steps()).guidanceScale(r.cfg());
        if (r.negative() != null) b.negativePrompt(r.negative());
        if (r.sampler() != null) b.sampler(r.sampler());
        if (r.width() != null) b.size(r.width(), r.height());
        if (r.initImage() != null) b.initImage(Images.read(Path.of(r.initImage()))).strength(r.strength());
        return b.build();
    }

    static Path initImage(Path folder) throws IOException {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.BLUE);
        g.fillRect(0, 0, 64, 64);
        g.setColor(Color.RED);
        g.fillOval(16, 16, 32, 32);
        g.dispose();
        Path p = folder.resolve("init.png");
        ImageIO.write(img, "png", p.toFile());
        return p;
    }

    static Map<String, Row> byId(Dataset<Row> results) {
        Map<String, Row> m = new HashMap<>();
        for (Row r : results.collectAsList()) assertNull(m.put(r.getAs("id"), r), "one result row per id");
        return m;
    }

    /** The folder holds exactly the rows' images and the result table: no temporary or checksum files. */
    static void assertOnlyImages(Path out, List<String> ids) throws IOException {
        List<String> expected = new ArrayList<>(ids.stream().map(id -> id + ".png").sorted().toList());
        expected.add("results.parquet");
        try (Stream<Path> files = Files.list(out)) {
            assertEquals(expected.stream().sorted().toList(), files.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void sixteenRowsGiveTheSingleProcessImagesWhateverThePartitioning() throws Exception {
        List<Req> rows = sixteenRows(initImage(dir));
        Path csv = writeCsv(dir.resolve("prompts.csv"), rows);
        Path out = dir.resolve("out");

        // the command line, as spark-submit runs it (in this JVM's session)
        int code = SparkGenerationMain.execute(new java.io.PrintWriter(System.err, true), "--model", ReferenceImages.TINY_MODEL.toString(), "--input", csv.toString(),
                "--output", out.toString(), "--job-seed", "7", "--partitions", "5");
        assertEquals(0, code);

        Map<String, Row> results = byId(spark.read().parquet(out.resolve("results.parquet").toString()));
        assertEquals(16, results.size());
        assertOnlyImages(out, rows.stream().map(Req::id).toList());
        for (Req r : rows) {
            Row res = results.get(r.id());
            assertNull(res.getAs("error"), r.id());
            long seed = res.getAs("seed");
            if (r.seed() != null) assertEquals(r.seed(), seed);
            else assertEquals(RequestRow.derivedSeed(7, r.id()), seed, "derived from the job seed and the id");
            Path png = out.resolve(r.id() + ".png");
            byte[] bytes = Files.readAllBytes(png);
            assertArrayEquals(reference.png(request(r, seed)), bytes, r.id() + ": the bytes the library writes");
            assertEquals(GeneratePartition.sha256(bytes), res.getAs("sha256"));
            assertEquals(png.toUri(), URI.create(res.<String>getAs("path")).normalize());
            assertEquals(r.width() == null ? 64 : r.width(), res.<Integer>getAs("width"));
            assertEquals(r.height() == null ? 64 : r.height(), res.<Integer>getAs("height"));
        }
        assertTrue(rows.stream().anyMatch(r -> r.seed() == null), "some rows derive their seed");

        // the same table as JSON lines with numbers as numbers (not text), spread over other partitions: the same images
        Path json = dir.resolve("prompts.jsonl");
        spark.read().option("header", "true").option("escape", "\"").option("inferSchema", "true").csv(csv.toString())
                .write().json(json.toString());
        assertEquals("bigint", spark.read().json(json.toString()).schema().apply("seed").dataType().simpleString());
        Path out2 = dir.resolve("out2");
        var report = SparkGeneration.run(spark, spark.read().json(json.toString()),
                SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), out2.toString()).jobSeed(7).partitions(3).build());
        assertEquals(16, report.rows());
        assertEquals(0, report.errors());
        Map<String, Row> again = byId(report.results());
        for (Req r : rows) {
            assertEquals(results.get(r.id()).<String>getAs("sha256"), again.get(r.id()).<String>getAs("sha256"), r.id());
        }
    }

    /** A kohya-layout LoRA on the tiny UNet's mid-block self-attention query, strong enough to change the image. */
    static Path writeLoRA(Path file) {
        String stem = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q";
        TorchGenerator g = new TorchGenerator(3);
        Map<String, Tensor> t = new java.util.LinkedHashMap<>();
        t.put(stem + ".lora_down.weight", g.randn(4, 128).mul(new Scalar(0.5)));
        t.put(stem + ".lora_up.weight", g.randn(128, 4).mul(new Scalar(0.5)));
        t.put(stem + ".alpha", Tensors.fromFloats(new float[] {4f}));
        SafetensorsWriter.write(file, t, Map.of("format", "pt"));
        return file;
    }

    @Test
    void rowLoRAsAreTheLibrarysPerRequestLoRAs() throws Exception {
        Path loras = Files.createDirectories(dir.resolve("loras"));
        Path file = writeLoRA(loras.resolve("glow.safetensors"));
        Path csv = dir.resolve("loras.csv");
        Files.writeString(csv, "id,prompt,seed,steps,loras\n"
                + "plain,a red circle,5,4,\n"
                + "by-file,a red circle,5,4," + file + ":0.8\n"
                + "by-name,a red circle,5,4,glow:0.8\n"
                + "by-tag,a red circle <lora:glow:0.8>,5,4,\n");
        Path out = dir.resolve("lora-out");
        var report = SparkGeneration.run(spark, SparkGeneration.readRequests(spark, csv.toString()),
                SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), out.toString())
                        .loraDir(loras.toString()).partitions(2).build());
        assertEquals(0, report.errors());
        var base = GenerationRequest.builder("a red circle").seed(5).steps(4);
        byte[] plain = Files.readAllBytes(out.resolve("plain.png"));
        assertArrayEquals(reference.png(base.build()), plain);
        byte[] byFile = Files.readAllBytes(out.resolve("by-file.png"));
        assertArrayEquals(reference.png(GenerationRequest.builder("a red circle").seed(5).steps(4)
                .lora(LoRASpec.file(file, 0.8)).build()), byFile);
        assertArrayEquals(reference.png(GenerationRequest.builder("a red circle").seed(5).steps(4)
                .lora(LoRASpec.named("glow", 0.8)).loraDir(loras).build()), Files.readAllBytes(out.resolve("by-name.png")));
        assertArrayEquals(reference.png(GenerationRequest.builder("a red circle <lora:glow:0.8>").seed(5).steps(4)
                .loraDir(loras).build()), Files.readAllBytes(out.resolve("by-tag.png")));
        assertFalse(java.util.Arrays.equals(plain, byFile), "the LoRA changes the image");
    }

    @Test
    void badRowsGetTheirOwnErrorsAndTheOthersTheirImages() throws Exception {
        String header = "id,prompt,seed,steps,width,loras,init_image,sampler\n";
        String csv = header
                + "good,a red circle,1,3,,,,\n"
                + "steps-text,a red circle,1,many,,,,\n"
                + "steps-absurd,a red circle,1,5000,,,,\n"
                + "width-odd,a red circle,1,3,63,,,\n"
                + "lora-missing,a red circle,1,3,,/nowhere/pixel.safetensors:0.8,,\n"
                + "lora-tag,a red circle <lora:pixel:lots>,1,3,,,,\n"
                + "weight-syntax,a (red:1.2.3) circle,1,3,,,,\n"
                + "init-missing,a red circle,1,3,,,/nowhere/init.png,\n"
                + "sampler-unknown,a red circle,1,3,,,,Euler z\n"
                + ",a row without an id,1,3,,,,\n"
                + "../escape,a red circle,1,3,,,,\n"
                + "prompt-missing,,1,3,,,,\n";
        Path file = dir.resolve("bad.csv");
        Files.writeString(file, csv);
        Path out = dir.resolve("bad-out");
        var report = SparkGeneration.run(spark, SparkGeneration.readRequests(spark, file.toString()),
                SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), out.toString())
                        .longPrompts(LongPromptMode.CHUNK).partitions(3).build());
        assertEquals(12, report.rows());
        assertEquals(11, report.errors());
        Map<String, Row> r = new HashMap<>();
        for (Row row : report.results().collectAsList()) r.put(row.getAs("id"), row);
        assertNull(r.get("good").getAs("error"));
        assertNotNull(r.get("good").getAs("path"));
        Map<String, String> expected = Map.of("steps-text", "steps: 'many' is not a whole number",
                "steps-absurd", "steps", "width-odd", "multiple of 8", "lora-missing", "pixel.safetensors",
                "lora-tag", "lots", "weight-syntax", "1.2.3", "init-missing", "init_image: /nowhere/init.png: file not found",
                "sampler-unknown", "Euler z", "../escape", "id:", "prompt-missing", "prompt: missing");
        expected.forEach((id, text) -> {
            String error = r.get(id).getAs("error");
            assertNotNull(error, id + " should fail");
            assertTrue(error.contains(text), id + ": " + error);
            assertFalse(error.contains("\n"), id + ": one line");
            assertNull(r.get(id).getAs("path"), id + " has no image");
        });
        assertTrue(r.get(null).<String>getAs("error").startsWith("id: missing"));
        assertOnlyImages(out, List.of("good"));
    }

    @Test
    void tableLevelMistakesStopTheJobBeforeAnyWork() throws IOException {
        Path dup = dir.resolve("dup.csv");
        Files.writeString(dup, "id,prompt\na,x\nb,y\na,z\n");
        var options = SparkGenerationOptions.builder(ReferenceImages.TINY_MODEL.toString(), dir.resolve("never").toString()).build();
        var e = assertThrows(JDiffusionException.class,
                () -> SparkGeneration.run(spark, SparkGeneration.readRequests(spark, dup.toString()), options));
        assertTrue(e.getMessage().contains("a (2 times)"), e.getMessage());

        Path noPrompt = dir.resolve("noprompt.csv");
        Files.writeString(noPrompt, "id,text\na,x\n");
        e = assertThrows(JDiffusionException.class,
                () -> SparkGeneration.run(spark, SparkGeneration.readRequests(spark, noPrompt.toString()), options));
        assertTrue(e.getMessage().contains("no 'prompt' column"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("never")), "nothing written");

        // the command line: one error line, exit code 2
        var err = new java.io.StringWriter();
        int code = SparkGenerationMain.execute(new java.io.PrintWriter(err, true), "--model", ReferenceImages.TINY_MODEL.toString(),
                "--input", dir.resolve("absent.csv").toString(), "--output", dir.resolve("never").toString());
        assertEquals(2, code);
        String text = err.toString().strip();
        assertTrue(text.startsWith("error: ") && text.contains("absent.csv") && text.lines().count() == 1, text);

        // a model the executors cannot load fails the job (not each row), with one line naming it
        Path one = dir.resolve("one.csv");
        Files.writeString(one, "id,prompt\na,x\n");
        err = new java.io.StringWriter();
        code = SparkGenerationMain.execute(new java.io.PrintWriter(err, true), "--model", dir.resolve("no-model").toString(),
                "--input", one.toString(), "--output", dir.resolve("no-model-out").toString());
        assertEquals(2, code);
        text = err.toString().strip();
        assertTrue(text.startsWith("error: ") && text.contains("no-model") && text.lines().count() == 1, text);
        assertFalse(Files.exists(dir.resolve("no-model-out").resolve("results.parquet")), "no unfinished result table");
    }
}
