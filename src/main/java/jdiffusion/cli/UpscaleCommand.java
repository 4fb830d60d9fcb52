package jdiffusion.cli;

import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionUpscalePipeline;
import jdiffusion.pipelines.UpscaleRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jdiffusion upscale}: diffusers' StableDiffusionUpscalePipeline (the x4 upscaler) from the command line. */
@Command(name = "upscale", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Enlarge an image 4x guided by a text prompt (stabilityai/stable-diffusion-x4-upscaler).")
final class UpscaleCommand extends GenerateCommand {
    @Option(names = "--image", required = true, paramLabel = "IMAGE", description = "The low-resolution image (PNG or JPEG).")
    Path image;

    @Option(names = "--noise-level", description = "Noise added to the image, 0 to the model's max_noise_level (350); more lets the model invent more (default: ${DEFAULT-VALUE}).")
    int noiseLevel = UpscaleRequest.DEFAULT_NOISE_LEVEL;

    @Override
    void configure(GenerationRequest.Builder b) {
        if (noiseLevel < 0 || noiseLevel > 350) {
            // the model's own maximum is checked again once it is loaded
            throw new JDiffusionException("--noise-level must be between 0 and 350, not " + noiseLevel);
        }
        if (given("--width") || given("--height")) {
            throw new JDiffusionException("upscale takes no --width/--height: the output is 4x --image's size");
        }
        b.initImage(Images.read(image));
        if (!given("--steps")) b.steps(UpscaleRequest.DEFAULT_STEPS);
        if (!given("--guidance-scale") && !given("--cfg-scale")) b.guidanceScale(UpscaleRequest.DEFAULT_GUIDANCE_SCALE);
    }

    @Override
    Loaded load(String model, PipelineOptions options) {
        StableDiffusionUpscalePipeline pipe = StableDiffusionUpscalePipeline.load(model, options);
        pipe.components().oneRequest(); // one request per process: LoRAs merged for good, models freed when done
        return new Loaded((request, callback) -> pipe.generate(new UpscaleRequest(request, noiseLevel), callback), pipe::close);
    }

    @Override
    String verb() {
        return "upscale";
    }
}
