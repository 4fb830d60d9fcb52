package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.training.TrainingConfig;
import jdiffusion.training.pixel.ClassConditionedTraining;
import jdiffusion.training.pixel.FashionMnist;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion train-class-conditioned}: the course's class-conditioned model, trained on Fashion-MNIST. */
@Command(name = "train-class-conditioned", mixinStandardHelpOptions = true,
        description = "Train the diffusion course's class-conditioned UNet2DModel (class embedding concatenated to the "
                + "image) from scratch on Fashion-MNIST IDX files; writes a DDPMPipeline folder that `sample --class-label` "
                + "draws from, and a checkpoint that --resume continues exactly.",
        footer = {"%nExample (Debian: apt-get install dataset-fashion-mnist):",
                "  jdiffusion train-class-conditioned --data /usr/share/datasets/fashion-mnist --epochs 10 --out fashion-model",
                "  jdiffusion sample --model fashion-model --class-label 7 --sampler DDIM --steps 40 --out sneakers.png"})
final class TrainClassConditionedCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--data", paramLabel = "DIR", description = "The folder of the Fashion-MNIST IDX files (default: ${DEFAULT-VALUE}).")
    Path data = FashionMnist.DEBIAN_DIR;

    @Option(names = "--epochs", required = true, description = "Passes over the training images.")
    int epochs;

    @Option(names = "--subset", defaultValue = "0", description = "Train on the first N images only, 0 = all (default: ${DEFAULT-VALUE}).")
    int subset;

    @Option(names = "--batch-size", defaultValue = "128", description = "Images per step (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "1e-3", description = "AdamW learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--lr-scheduler", description = "constant (the notebook's), constant_with_warmup or cosine "
            + "(default: ${DEFAULT-VALUE}).")
    String lrScheduler = "constant";

    @Option(names = "--lr-warmup-steps", description = "Warm-up steps of the schedules that have one (default: ${DEFAULT-VALUE}).")
    int lrWarmupSteps = 0;

    @Option(names = "--snr-gamma", description = "Min-SNR loss weighting gamma, 0 = the notebook's plain MSE (default: ${DEFAULT-VALUE}).")
    double snrGamma = 0;

    @Option(names = "--class-dropout", description = "Train this share of the samples as \"no class\" (all-zero class "
            + "embedding), so that `sample`/`eval-class-conditioned --guidance-scale` can use classifier-free guidance; "
            + "0 = the notebook's model (default: ${DEFAULT-VALUE}).")
    double classDropout = 0;

    @Option(names = "--micro-batches", defaultValue = "1", description = "Split each batch in this many parts "
            + "(gradient accumulation) that run at once on the cores; part of the recipe, as it decides the random draws "
            + "(default: ${DEFAULT-VALUE}, the notebook's one batch).")
    int microBatches;

    @Option(names = "--workers", description = "Micro-batches computed at once, each on its share of the cores; the result "
            + "does not depend on it (default: the smaller of --micro-batches and the physical cores).")
    Integer workers;

    @Option(names = "--ema-decay", defaultValue = "0", description = "Keep an EMA of the weights and save it, 0 = off (e.g. 0.999).")
    double emaDecay;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the weights, the data order and the noise (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--checkpoint-every", defaultValue = "200", description = "Steps between checkpoints (default: ${DEFAULT-VALUE}).")
    int checkpointEvery;

    @Mixin
    TrainingDTypeOption dtype;

    @Option(names = "--resume", description = "Continue from OUT/training_state.safetensors if it exists.")
    boolean resume;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The output folder.")
    Path out;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        boolean bf16 = dtype.bf16();
        var config = new ClassConditionedTraining.Config(data, epochs, subset, batchSize, lr, out, seed, emaDecay,
                checkpointEvery, resume, List.of(32, 64, 64), 2, 4, bf16, TrainingConfig.LrSchedule.parse(lrScheduler),
                lrWarmupSteps, snrGamma, microBatches, classDropout);
        int cores = NativeThreads.physicalCores();
        int parallel = workers != null ? workers : Math.min(microBatches, cores);
        if (parallel < 1) throw new JDiffusionException("--workers must be at least 1, got " + parallel);
        // each worker's kernels get their share of the cores; OMP_NUM_THREADS, when set, is the user's choice
        if (System.getenv("OMP_NUM_THREADS") == null) NativeThreads.setComputeThreads(Math.max(1, cores / parallel));
        ProgressBar[] bar = {null};
        double loss = ClassConditionedTraining.run(config, parallel, (step, total, epoch, l) -> {
            // made at the first step this run takes, so a resumed run's speed counts only its own steps
            if (bar[0] == null) bar[0] = new ProgressBar(System.err, "training", total, step, System.nanoTime());
            bar[0].update(step + 1, String.format(java.util.Locale.ROOT, "epoch %d  loss %.4f", epoch + 1, l));
        });
        if (bar[0] != null) bar[0].done();
        stdout.printf(java.util.Locale.ROOT, "Wrote the class-conditioned DDPMPipeline to %s (last loss %.4f)%n", out, loss);
        return 0;
    }
}
