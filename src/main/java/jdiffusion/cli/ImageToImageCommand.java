package jdiffusion.cli;

import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.pipelines.GenerationRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jdiffusion img2img}: diffusers' StableDiffusionImg2ImgPipeline from the command line. */
@Command(name = "img2img", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Redraw an image guided by a text prompt.")
class ImageToImageCommand extends GenerateCommand {
    @Option(names = "--init-image", required = true, paramLabel = "IMAGE", description = "The starting image (PNG or JPEG).")
    Path initImage;

    @Option(names = "--strength", description = "How much to change it: 0 keeps it, 1 redraws all (default: 0.8).")
    Double strength;

    @Option(names = "--resize-mode", paramLabel = "resize|crop|fill",
            description = "How the image is fitted when its size differs from --width/--height (default: ${DEFAULT-VALUE}).")
    String resizeMode = "resize";

    double defaultStrength() {
        return GenerationRequest.DEFAULT_STRENGTH;
    }

    @Override
    void configure(GenerationRequest.Builder b) {
        b.initImage(Images.read(initImage));
        b.strength(strength != null ? strength : defaultStrength());
        b.resizeMode(switch (resizeMode.toLowerCase(java.util.Locale.ROOT)) {
            case "resize" -> Images.ResizeMode.RESIZE;
            case "crop" -> Images.ResizeMode.CROP;
            case "fill" -> Images.ResizeMode.FILL;
            default -> throw new JDiffusionException("--resize-mode must be resize, crop or fill, not " + resizeMode);
        });
    }

    @Override
    String verb() {
        return "img2img";
    }
}
