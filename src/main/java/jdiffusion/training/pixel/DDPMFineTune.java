package jdiffusion.training.pixel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.image.ImageGrid;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.pipelines.DDIMPipeline;
import jdiffusion.pipelines.PixelRequest;
import jdiffusion.pipelines.StepCallback;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The diffusion course's unit 2 fine-tuning loop: a pretrained pixel-space DDPM (or a class-conditioned
 * one, every image taught as one class) trained further on a folder of images - random timesteps, {@code add_noise}, MSE on the noise, AdamW, gradient
 * accumulation - with sample grids every {@code sampleEvery} steps ({@code samples/step-N.png}, DDIM
 * 40 steps, a fixed seed), a checkpoint that resumes exactly ({@code training_state.safetensors},
 * see {@link Trainer}) and a diffusers DDPMPipeline folder as output.
 *
 * <pre>{@code
 * DDPMFineTune.run(new DDPMFineTune.Config(Path.of("ddpm-celebahq-256"), Path.of("butterflies"), 256, 4, 2, 1e-5,
 *         1000, Path.of("out"), 0, 100, 100, false), DDPMFineTune.Listener.NONE);
 * }</pre>
 */
public final class DDPMFineTune {
    public static final String STATE_FILE = "training_state.safetensors";

    /**
     * @param model           a DDPMPipeline folder (unet/, scheduler/)
     * @param sampleEvery     steps between sample grids (0 = none)
     * @param checkpointEvery steps between checkpoints (0 = only at the end)
     * @param resume          continue from {@code out/training_state.safetensors} when it exists
     * @param classLabel      for a class-conditioned model (the course's ClassConditionedUnet), the class every image of
     *                        {@code data} is trained as, and sampled with; null for an unconditional model
     */
    public record Config(Path model, Path data, int resolution, int batchSize, int gradAccumulation, double learningRate,
                         int steps, Path out, long seed, int sampleEvery, int checkpointEvery, boolean resume,
                         Integer classLabel) {
        public Config(Path model, Path data, int resolution, int batchSize, int gradAccumulation, double learningRate,
                      int steps, Path out, long seed, int sampleEvery, int checkpointEvery, boolean resume) {
            this(model, data, resolution, batchSize, gradAccumulation, learningRate, steps, out, seed, sampleEvery,
                    checkpointEvery, resume, null);
        }

        public Config {
            if (batchSize < 1 || batchSize > 4096) throw new JDiffusionException("--batch-size must be 1 to 4096, got " + batchSize);
            if (gradAccumulation < 1) throw new JDiffusionException("--grad-accumulation must be at least 1, got " + gradAccumulation);
            if (!(learningRate > 0 && learningRate < 1)) throw new JDiffusionException("--lr must be in (0, 1), got " + learningRate);
            if (steps < 1) throw new JDiffusionException("--steps must be at least 1, got " + steps);
            if (sampleEvery < 0 || checkpointEvery < 0) throw new JDiffusionException("sample/checkpoint intervals must be >= 0");
        }
    }

    /** What a run reports. */
    public interface Listener {
        void onStep(int step, int totalSteps, double loss);

        default void onSamples(int step, Path grid) {}

        Listener NONE = (step, total, loss) -> {};
    }

    private DDPMFineTune() {}

    /** Runs (or resumes) the fine-tuning and writes the DDPMPipeline folder to {@code config.out()}; returns the last loss. */
    public static double run(Config config, Listener listener) {
        Path source = ModelFolder.locate(config.model().toString());
        Path schedulerFile = source.resolve("scheduler").resolve("scheduler_config.json");
        if (!Files.isRegularFile(source.resolve("unet").resolve("config.json")) || !Files.isRegularFile(schedulerFile)) {
            throw new JDiffusionException(source + " is not a DDPMPipeline folder: it needs unet/config.json and "
                    + "scheduler/scheduler_config.json");
        }
        if (config.out().toAbsolutePath().normalize().equals(source.toAbsolutePath().normalize())) {
            throw new JDiffusionException("--out is the --model folder; write the fine-tuned model elsewhere");
        }
        String schedulerJson = readString(schedulerFile);
        var noiseScheduler = (DDPMScheduler) Schedulers.create("DDPMScheduler", SchedulerConfigFile.parse(schedulerJson), Map.of());
        PixelDenoiser unet = PixelDenoiser.load(source.resolve("unet"), ScalarType.Float, Tensors.CPU);
        try {
            Tensor labels = classLabels(unet, config);
            ImageFolderData data = new ImageFolderData(config.data(), config.resolution(), unet.imageChannels());
            unet.module().train(true);
            var objective = new PixelDiffusionObjective(unet, noiseScheduler);
            // torch.optim.AdamW defaults (weight decay 0.01), no clipping, no warm-up: the notebook's optimiser
            TrainingConfig training = new TrainingConfig(config.steps(), config.learningRate(), 0,
                    TrainingConfig.LrSchedule.CONSTANT, config.gradAccumulation(), 0, 0.01, 0, false, config.seed(),
                    config.checkpointEvery());
            double last;
            try (Trainer trainer = new Trainer(training, ModuleTensors.parameters(unet.module(), ""), config.out().resolve(STATE_FILE))) {
                if (config.resume()) trainer.resume();
                DDIMScheduler sampler = (DDIMScheduler) Schedulers.create("DDIMScheduler", SchedulerConfigFile.parse(schedulerJson), Map.of());
                trainer.run((step, micro, rng) -> objective.loss(data.batch(config.batchSize(), rng), labels, rng),
                        (step, total, loss, lr) -> {
                            listener.onStep(step, total, loss);
                            if (config.sampleEvery() > 0 && (step + 1) % config.sampleEvery() == 0) {
                                listener.onSamples(step + 1, samples(unet, sampler, config, step + 1));
                            }
                        });
                last = trainer.lastLoss();
            }
            unet.module().eval();
            PixelPipelineWriter.write(config.out(), unet, schedulerJson);
            return last;
        } finally {
            unet.close();
        }
    }

    /** 8 images, DDIM 40 steps, seed 0 (the same noise at every step, so grids show the drift): samples/step-N.png. */
    static Path samples(PixelDenoiser unet, DDIMScheduler sampler, Config config, int step) {
        Path grid = config.out().resolve("samples").resolve("step-" + step + ".png");
        unet.module().eval();
        try {
            var result = new DDIMPipeline(unet, sampler).call(new PixelRequest(8, 40, 0, config.classLabel(), null),
                    StepCallback.NONE);
            ImageGrid.writePng(grid, ImageGrid.grid(ImageGrid.fromNhwc(result.images())));
        } finally {
            unet.module().train(true);
        }
        return grid;
    }

    /** The batch's labels (every image is {@code classLabel}) for a class-conditioned model; null for an unconditional one. */
    private static Tensor classLabels(PixelDenoiser unet, Config config) {
        if (unet.numClasses() == 0) {
            if (config.classLabel() != null) {
                throw new JDiffusionException("--class-label was given, but this model is not class-conditioned");
            }
            return null;
        }
        if (config.classLabel() == null) {
            throw new JDiffusionException("this model is class-conditioned (" + unet.numClasses() + " classes): give the class "
                    + "the images are to be learned as (--class-label 0 to " + (unet.numClasses() - 1) + ")");
        }
        jdiffusion.models.unet2d.ClassLabels.check(new long[] {config.classLabel()}, unet.numClasses());
        long[] l = new long[config.batchSize()];
        java.util.Arrays.fill(l, config.classLabel());
        return Tensors.fromLongs(l, l.length); // outside any scope: lives for the run
    }

    static String readString(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }
}
