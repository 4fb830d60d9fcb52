package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.checkpoint.DiffusersExport;
import jdiffusion.checkpoint.PickleFolderExport;
import jdiffusion.checkpoint.SingleFileCheckpoint;
import jdiffusion.checkpoint.SingleFileExport;
import jdiffusion.io.DType;
import jdiffusion.schedulers.PredictionType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code jdiffusion convert}: diffusers folders to and from single-file (LDM layout) checkpoints. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert between a diffusers model folder and a single-file Stable Diffusion 1.x/2.x "
                + "checkpoint (the original LDM layout that AUTOMATIC1111 and ComfyUI load). Pickles (.ckpt, .bin) "
                + "are read without running them: anything but tensors and plain containers is refused. Outputs "
                + "appear complete or not at all, and existing ones are never overwritten.",
        footer = {"%nExamples:",
                "  jdiffusion convert --to single-file MODEL_DIR model.safetensors --dtype fp16",
                "  jdiffusion convert --to diffusers model.ckpt MODEL_DIR --tokenizer SD_DIR/tokenizer",
                "  jdiffusion convert --to diffusers v2-1_768.safetensors OUT --config v2-inference-v.yaml",
                "  jdiffusion convert --to diffusers OLD_DIR NEW_DIR   (pickle .bin weights to safetensors)"})
final class ConvertCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--to", required = true, paramLabel = "single-file|diffusers", description = "The output format.")
    String to;

    @Parameters(index = "0", paramLabel = "INPUT", description = "A diffusers folder, or a .safetensors/.ckpt checkpoint.")
    Path input;

    @Parameters(index = "1", paramLabel = "OUTPUT", description = "The file or folder to create (must not exist).")
    Path output;

    @Option(names = "--dtype", paramLabel = "fp16|bf16|fp32",
            description = "Store floating-point weights in this type (default: as they are).")
    String dtype;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "--to diffusers: a CLIP tokenizer folder (vocab.json, merges.txt) to copy, e.g. an SD pipeline's tokenizer/.")
    Path tokenizer;

    @Option(names = "--prediction-type", paramLabel = "epsilon|v_prediction",
            description = "--to diffusers: what the UNet predicts; the weights cannot tell (default: epsilon, v_prediction for SD 2.x 768).")
    String predictionType;

    @Option(names = "--config", paramLabel = "YAML",
            description = "--to diffusers: the model's original LDM inference config (e.g. v2-inference-v.yaml).")
    Path originalConfig;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        DType type = dtype == null ? null : DType.parseFloat(dtype);
        if (Files.exists(output)) {
            throw new JDiffusionException(output + " already exists; choose a new name (convert never overwrites)");
        }
        switch (to.toLowerCase(Locale.ROOT)) {
            case "single-file", "singlefile", "ldm" -> toSingleFile(out, type);
            case "diffusers" -> toDiffusers(out, err, type);
            default -> throw new JDiffusionException("--to " + to + ": use single-file or diffusers");
        }
        out.flush();
        err.flush();
        return 0;
    }

    private void toSingleFile(PrintWriter out, DType type) {
        if (tokenizer != null || predictionType != null || originalConfig != null) {
            throw new JDiffusionException("--tokenizer, --prediction-type and --config apply to --to diffusers only");
        }
        if (!Files.isDirectory(input)) {
            throw new JDiffusionException(input + " is not a folder; --to single-file converts a diffusers folder");
        }
        if (!output.getFileName().toString().endsWith(".safetensors")) {
            throw new JDiffusionException(output + ": convert writes safetensors only; name the output *.safetensors");
        }
        SingleFileExport.Result r = SingleFileExport.write(input, output, type);
        out.printf("%s -> %s%n", input, r.file());
        r.tensorsPerComponent().forEach((component, n) -> out.printf("  %-13s %,d tensors%n", component, n));
        if (r.openClip()) out.println("  text encoder written in OpenCLIP layout (SD 2.x)");
    }

    private void toDiffusers(PrintWriter out, PrintWriter err, DType type) {
        if (Files.isDirectory(input)) {
            if (tokenizer != null || predictionType != null || originalConfig != null) {
                throw new JDiffusionException("--tokenizer, --prediction-type and --config apply to single-file inputs only");
            }
            PickleFolderExport.Result r = PickleFolderExport.write(input, output, type);
            out.printf("%s -> %s%n", input, r.folder());
            r.converted().forEach(c -> out.printf("  %s%n", c));
            out.printf("  %d other files copied%n", r.copied());
            return;
        }
        SingleFileCheckpoint.Options options = new SingleFileCheckpoint.Options(
                predictionType == null ? null : PredictionType.parse(predictionType), originalConfig);
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(input, options)) {
            out.printf("%s: %s%n", input, ckpt.summary());
            out.printf("  prediction type: %s (%s)%n", ckpt.predictionType(), ckpt.predictionReason());
            ckpt.notes().forEach(n -> out.printf("  note: %s%n", n));
            DiffusersExport.Result r = DiffusersExport.write(ckpt, output, tokenizer, type);
            out.printf("wrote %s (%d files)%n", r.folder(), r.written().size());
            r.warnings().forEach(w -> err.printf("warning: %s%n", w));
        }
    }
}
