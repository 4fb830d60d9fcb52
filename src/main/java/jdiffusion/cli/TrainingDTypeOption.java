package jdiffusion.cli;

import java.util.Locale;
import jdiffusion.JDiffusionException;
import picocli.CommandLine.Option;

/**
 * The training commands' precision (and eval-class-conditioned's, which samples as they train), spelled {@code --dtype} as in the generators. diffusers'
 * {@code --mixed-precision no|bf16} and train-tiny's old {@code --bf16} stay as hidden aliases so
 * that existing scripts keep working. Example: {@code @Mixin TrainingDTypeOption dtype;} then
 * {@code dtype.bf16()}.
 */
final class TrainingDTypeOption {
    private String dtype = "fp32";

    @Option(names = "--dtype", paramLabel = "fp32|bf16",
            description = "fp32, or bf16: the forwards under CPU autocast to bfloat16, the weights (and any optimiser state)"
                    + " in float32 (diffusers' --mixed_precision bf16). Default: fp32.")
    void dtype(String value) {
        if (value != null) dtype = value;
    }

    @Option(names = "--mixed-precision", hidden = true, description = "Old spelling of --dtype: no (= fp32) or bf16.")
    void mixedPrecision(String value) {
        if (value != null) dtype = value.equalsIgnoreCase("no") ? "fp32" : value;
    }

    @Option(names = "--bf16", hidden = true, description = "Old spelling of --dtype bf16.")
    void bf16Flag(boolean on) {
        if (on) dtype = "bf16";
    }

    /** accelerate's name for it: {@code no}, {@code bf16} or {@code fp16} (fp16 only where a command supports it). */
    String mixedPrecision() {
        return switch (dtype.toLowerCase(Locale.ROOT)) {
            case "fp32", "float32" -> "no";
            case "bf16", "bfloat16" -> "bf16";
            case "fp16", "float16" -> "fp16";
            default -> throw new JDiffusionException("--dtype must be fp32 or bf16, not " + dtype);
        };
    }

    /** True for bf16; fp16 is refused (autocast to float16 is for CUDA; training here runs on the CPU). */
    boolean bf16() {
        String m = mixedPrecision();
        if (m.equals("fp16")) throw new JDiffusionException("--dtype fp16 is for CUDA; on the CPU use fp32 or bf16");
        return m.equals("bf16");
    }
}
