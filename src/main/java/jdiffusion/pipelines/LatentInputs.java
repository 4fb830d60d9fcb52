package jdiffusion.pipelines;

import jdiffusion.schedulers.SchedulerRun;
import org.bytedeco.pytorch.Tensor;

/**
 * What the denoising loop of one pipeline mode starts from and adds to every step: one record per
 * mode ({@link TextToImageLatents}, {@link ImageToImageLatents}, {@link InpaintLatents},
 * {@link LegacyInpaintLatents}, {@link DepthLatents}, {@link UpscaleLatents}); {@link DenoisingLoop}
 * is the same for all of them.
 */
sealed interface LatentInputs
        permits TextToImageLatents, ImageToImageLatents, InpaintLatents, LegacyInpaintLatents, DepthLatents, UpscaleLatents {

    /** {@code [B, 4, h, w]} float32: what the first scheduler step receives. */
    Tensor latents();

    /**
     * {@code [B, k, h, w]} concatenated to the UNet input after {@code scale_model_input} (9-channel
     * inpainting: mask and masked-image latents; depth: the depth map; upscaler: the noised low-res
     * image), or null. The loop doubles it for guidance.
     */
    default Tensor extraChannels() {
        return null;
    }

    /** What becomes of the scheduler's output of the step at timestep {@code t} (legacy inpainting re-imposes the known region). */
    default Tensor afterStep(Tensor next, SchedulerRun steps, Tensor t) {
        return next;
    }

    /** The final latents from the loop's last output. */
    default Tensor finish(Tensor latents) {
        return latents;
    }
}
