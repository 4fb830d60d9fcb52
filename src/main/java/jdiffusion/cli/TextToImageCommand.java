package jdiffusion.cli;

import jdiffusion.JDiffusionException;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.HiresFix;
import jdiffusion.pipelines.HiresUpscaler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jdiffusion txt2img}: diffusers' StableDiffusionPipeline from the command line, with A1111's hires fix. */
@Command(name = "txt2img", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate images from a text prompt.")
final class TextToImageCommand extends GenerateCommand {
    @Option(names = "--hires-scale", paramLabel = "X",
            description = "Hires fix (AUTOMATIC1111): generate at --width/--height, enlarge X times and redraw (1 to 8).")
    Double hiresScale;

    @Option(names = "--hires-upscaler", paramLabel = "NAME",
            description = "How hires fix enlarges: \"Latent\" (default), \"Latent (antialiased)\", \"Latent (bicubic)\", "
                    + "\"Latent (bicubic antialiased)\", \"Latent (nearest)\", \"Latent (nearest-exact)\", \"Lanczos\", \"Nearest\".")
    String hiresUpscaler;

    @Option(names = "--hires-steps", description = "Steps of the second pass (default: as many as --steps).")
    Integer hiresSteps;

    @Option(names = "--denoising-strength", description = "How much the second pass redraws, in (0, 1] (default: 0.7).")
    Double denoisingStrength;

    @Option(names = "--hires-sampler", paramLabel = "NAME", description = "The second pass's sampler (default: --sampler's).")
    String hiresSampler;

    @Option(names = "--hires-prompt", description = "The second pass's prompt (default: the prompt).")
    String hiresPrompt;

    @Option(names = "--hires-negative-prompt", description = "The second pass's negative prompt (default: the negative prompt).")
    String hiresNegativePrompt;

    @Override
    void configure(GenerationRequest.Builder b) {
        boolean other = hiresUpscaler != null || hiresSteps != null || denoisingStrength != null || hiresSampler != null
                || hiresPrompt != null || hiresNegativePrompt != null;
        if (hiresScale == null) {
            if (other && o.from == null) {
                throw new JDiffusionException("the --hires-* options and --denoising-strength need --hires-scale (it turns hires fix on)");
            }
            return; // with --from, the PNG's hires settings (if any) apply
        }
        b.hires(new HiresFix(hiresScale, hiresUpscaler == null ? HiresUpscaler.LATENT : HiresUpscaler.of(hiresUpscaler),
                hiresSteps == null ? 0 : hiresSteps,
                denoisingStrength == null ? HiresFix.DEFAULT_DENOISING_STRENGTH : denoisingStrength,
                hiresSampler, hiresPrompt, hiresNegativePrompt));
    }

    @Override
    String verb() {
        return "txt2img";
    }
}
