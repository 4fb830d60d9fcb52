package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
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
                checkpointEvery, resume, List.of(32, 64, 64), 2, 4, bf16);
        ProgressBar[] bar = {null};
        double loss = ClassConditionedTraining.run(config, (step, total, epoch, l) -> {
            // made at the first step this run takes, so a resumed run's speed counts only its own steps
            if (bar[0] == null) bar[0] = new ProgressBar(System.err, "training", total, step, System.nanoTime());
            bar[0].update(step + 1, String.format(java.util.Locale.ROOT, "epoch %d  loss %.4f", epoch + 1, l));
        });
        if (bar[0] != null) bar[0].done();
        stdout.printf(java.util.Locale.ROOT, "Wrote the class-conditioned DDPMPipeline to %s (last loss %.4f)%n", out, loss);
        return 0;
    }
}
