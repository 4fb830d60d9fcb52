package jdiffusion.pipelines;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Classifier-free guidance as diffusers does it (pipeline_stable_diffusion.py, step 7): one UNet call
 * on the batch {@code [uncond; cond]}, then {@code uncond + scale * (cond - uncond)}. The only place
 * jdiffusion writes this formula; every pipeline, the benchmark and the README loop call it.
 *
 * <pre>{@code
 * Tensor input = run.scaleModelInput(ClassifierFreeGuidance.batch(latents));
 * Tensor noise = ClassifierFreeGuidance.combine(unet.forward(input, run.timestep(i), context), 7.5);
 * }</pre>
 */
public final class ClassifierFreeGuidance {
    private ClassifierFreeGuidance() {}

    /** Guidance runs only above 1, as in diffusers ({@code do_classifier_free_guidance}). */
    public static boolean isOn(double scale) {
        return scale > 1;
    }

    /** {@code [B, ...]} -> {@code [2B, ...]}: the same latents for the unconditional and the conditional half. */
    public static Tensor batch(Tensor latents) {
        return torch.cat(new TensorVector(latents, latents), 0);
    }

    /** The UNet's {@code [2B, ...]} prediction ({@code [uncond; cond]}) -> the guided {@code [B, ...]}. */
    public static Tensor combine(Tensor prediction, double scale) {
        TensorVector halves = prediction.chunk(2, 0);
        Tensor uncond = halves.get(0);
        return uncond.add(halves.get(1).sub(uncond).mul(new Scalar(scale)));
    }
}
