package jdiffusion.lora;

import java.nio.file.Path;
import jdiffusion.JDiffusionException;

/**
 * A LoRA that a request asks for: a file, or a name looked up in the LoRA folder as
 * AUTOMATIC1111 looks up {@code <lora:NAME:0.8>}, with the multipliers of its UNet and
 * text-encoder parts (A1111's {@code unet=} and {@code te=}; usually equal).
 *
 * <pre>{@code
 * GenerationRequest.builder("a castle").lora(LoRASpec.file(Path.of("pixel-art.safetensors"), 0.8)).build();
 * }</pre>
 *
 * @param file  the LoRA file; null when {@code name} is given
 * @param name  a name to look up in the request's LoRA folder; null when {@code file} is given
 */
public record LoRASpec(Path file, String name, double unetScale, double textEncoderScale) {
    public LoRASpec {
        if ((file == null) == (name == null)) {
            throw new JDiffusionException("a LoRA is given by a file or by a name, not both and not neither");
        }
        if (name != null && name.isBlank()) throw new JDiffusionException("a LoRA name must not be empty");
        if (!Double.isFinite(unetScale) || !Double.isFinite(textEncoderScale)) {
            throw new JDiffusionException("a LoRA scale must be a finite number, not " + unetScale + "/" + textEncoderScale);
        }
    }

    public static LoRASpec file(Path file, double scale) {
        return new LoRASpec(file, null, scale, scale);
    }

    public static LoRASpec named(String name, double scale) {
        return new LoRASpec(null, name, scale, scale);
    }

    /** How the LoRA is called in messages and in the PNG parameters: its name, or its file's stem. */
    public String displayName() {
        if (name != null) return name;
        String f = file.getFileName().toString();
        for (String extension : LoRAFiles.EXTENSIONS) {
            if (f.endsWith(extension)) return f.substring(0, f.length() - extension.length()); // A1111 names a LoRA by its stem
        }
        return f;
    }
}
