package jdiffusion.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tools.shapes.TinyShapesRecipe;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code jdiffusion train-tiny}: trains the shipped tiny text-to-image model from scratch (see TinyShapesRecipe). */
@Command(name = "train-tiny", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train the tiny shapes text-to-image model (VAE, then UNet + text encoder) from scratch.")
final class TrainTinyCommand implements Callable<Integer> {
    @Option(names = "--out", description = "The model folder to write (default: ${DEFAULT-VALUE}).")
    Path out = Path.of("tiny-shapes");

    @Option(names = "--work", description = "Checkpoints and the latent cache (default: <out>.work).")
    Path work;

    @Option(names = "--resume", description = "Continue from the checkpoints in --work.")
    boolean resume;

    @Option(names = "--steps", description = "UNet + text encoder steps (default: the recipe's).")
    Integer steps;

    @Option(names = "--vae-steps", split = ",", paramLabel = "N[,N...]",
            description = "VAE cosine cycles, each ending at that many steps in all (default: the recipe's, 1000,2500,4000).")
    List<Integer> vaeSteps;

    @Option(names = "--batch", description = "UNet images per step, split over the recipe's micro-batches (default: the recipe's).")
    Integer batch;

    @Option(names = "--seed", description = "Seed of the whole run (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--export-only", description = "Write --out from the checkpoints in --work as they are, and stop.")
    boolean exportOnly;

    @Option(names = "--prediction-type", paramLabel = "epsilon|v_prediction",
            description = "What the UNet learns to predict (default: v_prediction).")
    PredictionType prediction = PredictionType.V_PREDICTION;

    @Option(names = "--prediction", hidden = true, description = "Old spelling of --prediction-type.")
    void oldPrediction(PredictionType value) {
        if (value != null) prediction = value;
    }

    @Option(names = "--snr-gamma", description = "Min-SNR loss weighting gamma, 0 = off (default: the recipe's, 5).")
    Double snrGamma;

    @Mixin
    TrainingDTypeOption dtype;

    @Option(names = "--workers", description = "Micro-batches computed at once, each on its own cores; the result is "
            + "the same for any number (default: the recipe's micro-batches, at most one per physical core).")
    Integer workers;

    @Override
    public Integer call() {
        if (prediction == PredictionType.SAMPLE) {
            throw new JDiffusionException("--prediction must be EPSILON or V_PREDICTION; the recipe does not train SAMPLE");
        }
        Path workDir = work != null ? work : out.resolveSibling(out.getFileName() + ".work");
        if (exportOnly) {
            var d = TinyShapesRecipe.Options.defaults(out, workDir);
            TinyShapesRecipe.exportCheckpoints(new TinyShapesRecipe.Options(out, workDir, d.vae(), d.vaeCycles(), d.vaeEdgeFrom(), d.vaeBatch(),
                    d.unet(), d.unetBatch(), prediction, d.seed(), d.snrGamma()));
            System.out.println("wrote " + out + " from the checkpoints in " + workDir);
            return 0;
        }
        if (!resume && Files.isDirectory(workDir) && notEmpty(workDir)) {
            throw new JDiffusionException(workDir + " holds an earlier run; pass --resume to continue it, "
                    + "or another --work/--out to start afresh");
        }
        var d = TinyShapesRecipe.Options.defaults(out, workDir);
        TrainingConfig vae = d.vae().withSeed(seed);
        TrainingConfig unet = d.unet().withSeed(seed + 1);
        List<Integer> vaeCycles = vaeSteps != null ? vaeSteps : d.vaeCycles();
        if (steps != null) unet = unet.withSteps(steps);
        if (dtype.bf16()) {
            vae = new TrainingConfig(vae.steps(), vae.learningRate(), vae.warmupSteps(), vae.lrSchedule(),
                    vae.gradientAccumulation(), vae.maxGradNorm(), vae.weightDecay(), vae.emaDecay(), true, vae.seed(),
                    vae.checkpointEvery());
            unet = new TrainingConfig(unet.steps(), unet.learningRate(), unet.warmupSteps(), unet.lrSchedule(),
                    unet.gradientAccumulation(), unet.maxGradNorm(), unet.weightDecay(), unet.emaDecay(), true,
                    unet.seed(), unet.checkpointEvery());
        }
        var options = new TinyShapesRecipe.Options(out, workDir, vae, vaeCycles, d.vaeEdgeFrom(), d.vaeBatch(), unet,
                batch != null ? batch : d.unetBatch(), prediction, seed, snrGamma != null ? snrGamma : d.snrGamma());
        int cores = NativeThreads.physicalCores();
        int parallel = workers != null ? workers : Math.min(TinyShapesRecipe.MICRO_BATCHES, cores);
        if (parallel < 1) throw new JDiffusionException("--workers must be at least 1, got " + parallel);
        // each worker's kernels get their share of the cores; OMP_NUM_THREADS, when set, is the user's choice
        if (System.getenv("OMP_NUM_THREADS") == null) NativeThreads.setComputeThreads(Math.max(1, cores / parallel));
        TinyShapesRecipe.train(options, parallel, new TinyShapesRecipe.Progress() {
            @Override
            public Trainer.Listener stage(String name, int totalSteps) {
                return new Trainer.Listener() {
                    ProgressBar bar;

                    @Override
                    public void onStep(int step, int total, double loss, double lr) {
                        // a resumed stage's bar counts on from its checkpoint's step
                        if (bar == null) bar = new ProgressBar(System.err, name, total, step, System.nanoTime());
                        bar.update(step + 1, String.format(Locale.ROOT, "loss %.4f  lr %.1e", loss, lr));
                        if (step + 1 == total) bar.done();
                        else if ((step + 1) % 100 == 0) {
                            System.out.printf(Locale.ROOT, "%s step %d/%d loss %.5f%n", name, step + 1, total, loss);
                        }
                    }
                };
            }

            @Override
            public void message(String text) {
                System.out.println(text);
            }
        });
        return 0;
    }

    private static boolean notEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isPresent();
        } catch (IOException e) {
            return true;
        }
    }
}
