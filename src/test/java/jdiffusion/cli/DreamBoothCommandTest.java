package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.image.Images;
import jdiffusion.tools.shapes.Detection;
import jdiffusion.tools.shapes.Shape;
import jdiffusion.tools.shapes.ShapeScorer;
import jdiffusion.training.dreambooth.DreamBoothConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code shapes}, {@code dreambooth} and eval-tiny's instance check end to end, on the shipped tiny model. */
class DreamBoothCommandTest {
    static final String MODEL = "models/tiny-shapes";

    @TempDir
    Path dir;

    private Path starInstances() {
        Path instance = dir.resolve("instance");
        CliRunner r = CliRunner.run("shapes", "--family", "star", "--n", "5", "--fixed-style", "--out", instance.toString());
        assertEquals(0, r.exitCode(), r.err());
        return instance;
    }

    @Test
    void shapesDrawsFiveStarsTheScorerRecognises() {
        List<Path> files = DreamBoothConfig.imageFiles(starInstances());
        assertEquals(5, files.size());
        for (Path f : files) {
            Detection d = ShapeScorer.detect(Images.read(f));
            assertEquals(Shape.STAR, d.shape(), f + ": " + d);
        }
    }

    @Test
    void dreamboothWithPriorPreservationEndToEnd() {
        Path instance = starInstances();
        Path out = dir.resolve("out");
        CliRunner r = CliRunner.run("dreambooth", "--model", MODEL, "--quiet", "--instance-dir", instance.toString(),
                "--instance-prompt", "a sks shape", "--with-prior-preservation", "--class-dir", dir.resolve("class").toString(),
                "--class-prompt", "a shape", "--num-class-images", "2", "--class-inference-steps", "2",
                "--resolution", "64", "--train-batch-size", "1", "--max-train-steps", "3", "--learning-rate", "1e-4",
                "--mixed-precision", "bf16", "--checkpointing-steps", "2", "--output-dir", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("Generating 2 class images"), r.out());
        assertTrue(r.out().contains("dreambooth: 3 steps") && r.out().contains(out.getFileName().toString()), r.out());
        assertEquals(2, DreamBoothConfig.imageFiles(dir.resolve("class")).size());
        assertTrue(Files.isDirectory(out.resolve("checkpoint-2")));
        assertTrue(Files.isRegularFile(out.resolve("model_index.json")));

        Path png = dir.resolve("sks.png");
        CliRunner gen = CliRunner.run("txt2img", "--model", out.toString(), "--quiet", "--steps", "3", "--seed", "1",
                "--out", png.toString(), "a sks shape");
        assertEquals(0, gen.exitCode(), gen.err());
        assertEquals(64, Images.read(png).getWidth());

        CliRunner eval = CliRunner.run("eval-tiny", "--model", out.toString(), "--n", "1", "--steps", "2",
                "--guidance", "1", "--instance-prompt", "a sks shape", "--instance-dir", instance.toString(),
                "--instance-n", "2");
        assertEquals(0, eval.exitCode(), eval.err());
    }

    @Test
    void badInputEndsWithOneErrorLine() throws Exception {
        CliRunner missing = CliRunner.run("dreambooth", "--model", MODEL, "--instance-dir", dir.resolve("nope").toString(),
                "--instance-prompt", "a sks shape", "--output-dir", dir.resolve("out").toString());
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().startsWith("error: --instance-dir") && missing.err().contains("not a folder"), missing.err());

        Path instance = starInstances();
        CliRunner fp16 = CliRunner.run("dreambooth", "--model", MODEL, "--instance-dir", instance.toString(),
                "--instance-prompt", "a sks shape", "--mixed-precision", "fp16", "--output-dir", dir.resolve("out").toString());
        assertEquals(2, fp16.exitCode());
        assertTrue(fp16.err().contains("use --dtype bf16"), fp16.err());

        CliRunner prior = CliRunner.run("dreambooth", "--model", MODEL, "--instance-dir", instance.toString(),
                "--instance-prompt", "a sks shape", "--with-prior-preservation", "--class-dir", dir.resolve("c").toString(),
                "--output-dir", dir.resolve("out").toString());
        assertEquals(2, prior.exitCode());
        assertTrue(prior.err().contains("--class-prompt"), prior.err());

        CliRunner unwritable = CliRunner.run("dreambooth", "--model", MODEL, "--instance-dir", instance.toString(),
                "--instance-prompt", "a sks shape", "--output-dir", "/proc/jdiffusion-never");
        assertEquals(2, unwritable.exitCode());
        assertTrue(unwritable.err().startsWith("error: --output-dir") && unwritable.err().contains("cannot write"), unwritable.err());

        Files.writeString(instance.resolve("broken.png"), "not a png");
        CliRunner broken = CliRunner.run("dreambooth", "--model", MODEL, "--instance-dir", instance.toString(),
                "--instance-prompt", "a sks shape", "--output-dir", dir.resolve("out").toString());
        assertEquals(2, broken.exitCode());
        assertTrue(broken.err().contains("broken.png"), broken.err());
        assertEquals(1, broken.err().strip().lines().count(), broken.err());
        assertTrue(!Files.exists(dir.resolve("out")), "nothing is written for bad input");
    }

    @Test
    void aFinishedRunIsNotOverwrittenWithoutAsking() throws Exception {
        Path instance = starInstances();
        Path out = Files.createDirectories(dir.resolve("finished"));
        Files.writeString(out.resolve("model_index.json"), "{}");
        Path oldCheckpoint = Files.createDirectories(out.resolve("checkpoint-500"));
        List<String> args = List.of("dreambooth", "--quiet", "--instance-dir", instance.toString(), "--instance-prompt",
                "a sks shape", "--train-batch-size", "1", "--max-train-steps", "2", "--checkpointing-steps", "1",
                "--output-dir", out.toString());
        CliRunner refused = CliRunner.run(args.toArray(String[]::new));
        assertEquals(2, refused.exitCode(), refused.err());
        assertTrue(refused.err().startsWith("error: --output-dir") && refused.err().contains("--overwrite")
                && refused.err().strip().lines().count() == 1, refused.err());
        assertEquals("{}", Files.readString(out.resolve("model_index.json")), "the finished model is untouched");

        // --overwrite: the old run's checkpoints go (a later 'latest' must not find checkpoint-500), the model is replaced;
        // no --model and no --resolution: the embedded tiny model at its own size (64), not diffusers' 512
        List<String> overwrite = new java.util.ArrayList<>(args);
        overwrite.add("--overwrite");
        CliRunner r = CliRunner.run(overwrite.toArray(String[]::new));
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(!Files.exists(oldCheckpoint), "the old run's checkpoint-500 is deleted");
        assertTrue(Files.isDirectory(out.resolve("checkpoint-1")) && Files.isDirectory(out.resolve("checkpoint-2")));
        assertTrue(Files.readString(out.resolve("model_index.json")).contains("StableDiffusionPipeline"));

        // resuming into the same folder needs no --overwrite
        List<String> resume = new java.util.ArrayList<>(args);
        resume.set(resume.indexOf("2"), "3");
        resume.addAll(List.of("--resume-from-checkpoint", "latest"));
        CliRunner resumed = CliRunner.run(resume.toArray(String[]::new));
        assertEquals(0, resumed.exitCode(), resumed.err());
        assertTrue(resumed.out().contains("Resuming from checkpoint checkpoint-2"), resumed.out());
    }

    @Test
    void theDefaultResolutionIsTheModels() {
        Path instance = starInstances();
        for (String model : List.of(MODEL, jdiffusion.Golden.model("sd1-tiny-pipeline").toString())) {
            DreamBoothCommand command = new DreamBoothCommand();
            new picocli.CommandLine(command).parseArgs("--model", model, "--instance-dir", instance.toString(),
                    "--instance-prompt", "a sks shape");
            int expected;
            try (var pipe = jdiffusion.pipelines.StableDiffusionPipeline.load(model, jdiffusion.pipelines.PipelineOptions.defaults())) {
                expected = pipe.defaultSize(); // diffusers' unet.sample_size * vae_scale_factor, as the pipeline computes it
            }
            assertEquals(expected, command.config().resolution(), model);
        }
        DreamBoothCommand given = new DreamBoothCommand();
        new picocli.CommandLine(given).parseArgs("--model", MODEL, "--instance-dir", instance.toString(),
                "--instance-prompt", "a sks shape", "--resolution", "128");
        assertEquals(128, given.config().resolution());
    }
}
