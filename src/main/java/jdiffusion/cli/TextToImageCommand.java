package jdiffusion.cli;

import jdiffusion.pipelines.GenerationRequest;
import picocli.CommandLine.Command;

/** {@code jdiffusion txt2img}: diffusers' StableDiffusionPipeline from the command line. */
@Command(name = "txt2img", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate images from a text prompt.")
final class TextToImageCommand extends GenerateCommand {
    @Override
    void configure(GenerationRequest.Builder b) {}

    @Override
    String verb() {
        return "txt2img";
    }
}
