package jdiffusion.cli;

import java.nio.file.Path;
import jdiffusion.pipelines.DepthMap;
import jdiffusion.pipelines.DepthToImageRequest;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionDepth2ImgPipeline;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jdiffusion depth2img}: diffusers' StableDiffusionDepth2ImgPipeline from the command line. */
@Command(name = "depth2img", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Redraw an image guided by a text prompt, keeping its depth (stable-diffusion-2-depth).")
final class DepthToImageCommand extends ImageToImageCommand {
    @Option(names = "--depth-map", paramLabel = "IMAGE|FILE.safetensors",
            description = "The depth to keep: an image (its brightness; white = near) or one tensor [H, W] or [1, H, W]. Default: the model's depth estimator's.")
    Path depthMapFile;

    @Option(names = "--depth-estimator", paramLabel = "DIR",
            description = "A transformers DPT folder (config.json, model.safetensors, preprocessor_config.json) instead of the model's depth_estimator/.")
    Path depthEstimator;

    private DepthMap depthMap;

    @Override
    void configure(GenerationRequest.Builder b) {
        super.configure(b);
        if (depthMapFile != null) depthMap = DepthMap.read(depthMapFile); // read (and checked) before the model loads
    }

    @Override
    Loaded load(String model, PipelineOptions options) {
        StableDiffusionDepth2ImgPipeline pipe = StableDiffusionDepth2ImgPipeline.load(model, o.tokenizer, depthEstimator, options);
        pipe.components().oneRequest(); // one request per process: LoRAs merged for good, models freed when done
        return new Loaded((request, callback) -> pipe.generate(new DepthToImageRequest(request, depthMap), callback), pipe::close);
    }

    @Override
    String verb() {
        return "depth2img";
    }
}
