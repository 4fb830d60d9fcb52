package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.util.List;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * What a generation produced.
 *
 * @param images          one per image of the batch
 * @param parameters      each image's generation parameters (AUTOMATIC1111 format for the PNG)
 * @param initialLatents  what the first scheduler step received, float32 {@code [B, 4, h, w]} on the CPU
 * @param finalLatents    the latents after the last step (not divided by the VAE scaling factor)
 * @param warnings        what the user should know (e.g. the part of a prompt that was cut)
 */
public record GenerationResult(List<BufferedImage> images, List<PngParameters> parameters,
                               Tensor initialLatents, Tensor finalLatents, List<String> warnings) {

    /** A result whose latents are float32 CPU copies that outlive the caller's PointerScope. */
    static GenerationResult of(List<BufferedImage> images, List<PngParameters> parameters, Tensor initialLatents,
                               Tensor finalLatents, List<String> warnings) {
        Tensor initialOut = initialLatents.to(Tensors.CPU, ScalarType.Float).clone();
        Tensor finalOut = finalLatents.to(Tensors.CPU, ScalarType.Float).clone();
        initialOut.retainReference();
        finalOut.retainReference();
        return new GenerationResult(images, parameters, initialOut, finalOut, warnings);
    }
}
