package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import jdiffusion.tools.bench.TrainingBenchReport;
import jdiffusion.tools.bench.TrainingBenchmark;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion bench-train}: seconds per training step and peak memory (issue 7). */
@Command(name = "bench-train", mixinStandardHelpOptions = true,
        description = "Time UNet training steps (random latents and text context, DDPM noise, epsilon MSE, backward, "
                + "AdamW; no VAE, no text encoder) and measure peak resident memory, full fine-tune or LoRA, fp32 or "
                + "bf16 autocast, with gradient checkpointing off and on. Each configuration runs in a JVM of its own. "
                + "Progress goes to stderr, the report to stdout.",
        footer = {"%nExamples:",
                "  jdiffusion bench-train                                     (models/tiny-shapes at 64x64: seconds)",
                "  jdiffusion create-random --config sd15 /tmp/sd15 --dtype fp16",
                "  jdiffusion bench-train --model /tmp/sd15 --resolution 512 --lora --rank 4 --dtype bf16"})
final class BenchTrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(names = "--resolution", paramLabel = "PX",
            description = "Image side in pixels (default: the model's own, sample_size x the VAE's factor).")
    Integer resolution;

    @Option(names = "--batch", defaultValue = "1", description = "Images per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lora", description = "Train rank-r LoRA adapters on the attention projections, the UNet frozen "
            + "(default: a full fine-tune of the UNet).")
    boolean lora;

    @Option(names = "--rank", defaultValue = "4", description = "LoRA rank, with --lora (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--train-only", paramLabel = "PREFIX",
            description = "Without --lora: train only the UNet parameters whose names start with PREFIX, the rest frozen "
                    + "(conv_in: the backward still runs through every block, as with LoRA, without a full fine-tune's "
                    + "gradients and AdamW state for every weight).")
    String trainOnly;

    @Mixin
    TrainingDTypeOption dtype;

    @Option(names = "--gradient-checkpointing", defaultValue = "both", paramLabel = "on|off|both",
            description = "Recompute each UNet block during the backward instead of keeping its activations; both "
                    + "measures off then on (default: ${DEFAULT-VALUE}).")
    String gradientCheckpointing;

    @Option(names = "--steps", defaultValue = "3",
            description = "Measured steps after one warm-up step, at least 3; the step time is their median "
                    + "(default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--threads", description = "libtorch threads (default: the current setting, one per physical core "
            + "unless OMP_NUM_THREADS says otherwise).")
    Integer threads;

    @Option(names = "--in-process", description = "Run every configuration in this JVM (quicker; a later run's peak "
            + "then includes what earlier ones left resident).")
    boolean inProcess;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Option(names = "--save-json", paramLabel = "FILE", description = "Also write the JSON report to FILE.")
    Path saveJson;

    @Option(names = "--one-run", hidden = true,
            description = "Internal: run one configuration (--gradient-checkpointing on or off) in this JVM and print its figures as JSON.")
    boolean oneRun;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String m = model.resolve();
        boolean bf16 = dtype.bf16();
        List<Boolean> checkpointing = switch (gradientCheckpointing.toLowerCase(Locale.ROOT)) {
            case "on" -> List.of(true);
            case "off" -> List.of(false);
            case "both" -> List.of(false, true);
            default -> throw new JDiffusionException("--gradient-checkpointing " + gradientCheckpointing + ": use on, off or both");
        };
        if (lora && rank < 1) throw new JDiffusionException("--rank " + rank + ": at least 1");
        int res = resolution != null ? resolution : TrainingBenchmark.defaultResolution(m);
        int threadCount = threads != null ? threads : torch.get_num_threads();
        List<TrainingBenchmark.Setting> settings = new ArrayList<>();
        for (boolean on : checkpointing) {
            settings.add(new TrainingBenchmark.Setting(m, res, batch, lora ? rank : 0, trainOnly, bf16, on, steps, threadCount));
        }
        if (oneRun) {
            if (settings.size() != 1) throw new JDiffusionException("--one-run takes --gradient-checkpointing on or off");
            out.println(TrainingBenchmark.runOneAsJson(settings.getFirst()));
            out.flush();
            return 0;
        }
        TrainingBenchReport report = TrainingBenchmark.run(settings, inProcess, err);
        if (saveJson != null) {
            String text = report.toJson() + "\n";
            AtomicFiles.write(saveJson, tmp -> Files.writeString(tmp, text));
        }
        if (json) {
            out.println(report.toJson());
            out.flush();
        } else {
            report.printTable(out);
        }
        return report.runs().stream().allMatch(r -> r.finite()) ? 0 : 1;
    }
}
