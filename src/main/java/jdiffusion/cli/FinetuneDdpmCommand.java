package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import jdiffusion.training.pixel.DDPMFineTune;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion finetune-ddpm}: the diffusion course's unit 2 fine-tuning of a pixel-space DDPM. */
@Command(name = "finetune-ddpm", mixinStandardHelpOptions = true,
        description = "Fine-tune a pretrained pixel-space DDPM (a DDPMPipeline folder) on a folder of images, as the "
                + "diffusion course's unit 2 notebook does; writes a DDPMPipeline folder diffusers loads, sample grids "
                + "(OUT/samples/) and a checkpoint that --resume continues exactly.",
        footer = {"%nExample:",
                "  jdiffusion finetune-ddpm --model google/ddpm-celebahq-256 --data faces/ --resolution 256 --batch-size 4 "
                        + "--grad-accumulation 2 --lr 1e-5 --steps 1000 --out faces-model"})
final class FinetuneDdpmCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR|ORG/NAME", description = "The pretrained DDPMPipeline folder.")
    Path model;

    @Option(names = "--data", required = true, paramLabel = "IMAGE_DIR", description = "The images to fine-tune on.")
    Path data;

    @Option(names = "--resolution", defaultValue = "32", description = "Images are resized to this square size (default: ${DEFAULT-VALUE}).")
    int resolution;

    @Option(names = "--batch-size", defaultValue = "4", description = "Images per micro-batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--grad-accumulation", defaultValue = "2", description = "Micro-batches per optimiser step (default: ${DEFAULT-VALUE}).")
    int gradAccumulation;

    @Option(names = "--lr", defaultValue = "1e-5", description = "AdamW learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--steps", defaultValue = "1000", description = "Optimiser steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The output folder.")
    Path out;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the batches, noise and timesteps (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--sample-every", defaultValue = "100", description = "Write a sample grid every N steps, 0 = never (default: ${DEFAULT-VALUE}).")
    int sampleEvery;

    @Option(names = "--checkpoint-every", defaultValue = "100", description = "Checkpoint every N steps, 0 = at the end only (default: ${DEFAULT-VALUE}).")
    int checkpointEvery;

    @Option(names = "--resume", description = "Continue from OUT/training_state.safetensors if it exists.")
    boolean resume;

    @Option(names = "--class-label", paramLabel = "N", description = "A class-conditioned model (train-class-conditioned's): "
            + "the class the images are learned as, and sampled with.")
    Integer classLabel;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        ProgressBar[] bar = {null};
        double loss = DDPMFineTune.run(new DDPMFineTune.Config(model, data, resolution, batchSize, gradAccumulation, lr, steps,
                out, seed, sampleEvery, checkpointEvery, resume, classLabel), new DDPMFineTune.Listener() {
            @Override
            public void onStep(int step, int totalSteps, double l) {
                // made at the first step this run takes, so a resumed run's speed counts only its own steps
                if (bar[0] == null) bar[0] = new ProgressBar(System.err, "fine-tuning", totalSteps, step, System.nanoTime());
                bar[0].update(step + 1, String.format(java.util.Locale.ROOT, "loss %.4f", l));
            }

            @Override
            public void onSamples(int step, Path grid) {
                stdout.println("\nsamples after step " + step + ": " + grid);
                stdout.flush();
            }
        });
        if (bar[0] != null) bar[0].done();
        stdout.printf(java.util.Locale.ROOT, "Wrote the fine-tuned DDPMPipeline to %s (last loss %.4f)%n", out, loss);
        return 0;
    }
}
