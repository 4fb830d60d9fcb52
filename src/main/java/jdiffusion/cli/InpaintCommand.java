package jdiffusion.cli;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.pipelines.GenerationRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jdiffusion inpaint}: diffusers' StableDiffusionInpaintPipeline with a 9-channel inpainting
 * UNet, or latent blending (the legacy pipeline) with an ordinary 4-channel one.
 */
@Command(name = "inpaint", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Repaint the white part of a mask in an image, guided by a text prompt.")
final class InpaintCommand extends ImageToImageCommand {
    @Option(names = "--mask", required = true, paramLabel = "IMAGE", description = "White = repaint, black = keep; same size as --init-image.")
    Path mask;

    @Option(names = "--mask-blur", description = "Gaussian blur of the mask in pixels (default: ${DEFAULT-VALUE}).")
    int maskBlur;

    @Option(names = "--keep-unmasked", description = "Paste the input's pixels back outside the mask (AUTOMATIC1111's overlay); off gives diffusers' image.")
    boolean keepUnmasked;

    @Override
    double defaultStrength() {
        return 1.0;
    }

    @Override
    void configure(GenerationRequest.Builder b) {
        super.configure(b);
        BufferedImage image = Images.read(initImage);
        BufferedImage m = Images.read(mask);
        if (m.getWidth() != image.getWidth() || m.getHeight() != image.getHeight()) {
            throw new JDiffusionException("--mask is " + m.getWidth() + "x" + m.getHeight() + " but --init-image is "
                    + image.getWidth() + "x" + image.getHeight() + "; they must be the same size");
        }
        b.mask(m).maskBlur(maskBlur).keepUnmasked(keepUnmasked);
    }

    @Override
    String verb() {
        return "inpaint";
    }
}
