package jdiffusion.training;

import java.util.function.Function;
import jdiffusion.models.unet.UNet2DConditionModel;
import org.bytedeco.pytorch.Tensor;

/**
 * Gradient checkpointing for the UNet (diffusers' {@code enable_gradient_checkpointing}): the
 * forward keeps only each block's inputs, and the backward recomputes one block at a time with
 * its graph, so activation memory is that of one block instead of the whole network.
 */
public final class GradientCheckpointing {
    private GradientCheckpointing() {}

    /**
     * Computes {@code loss = lossOf(unet.forward(sample, timesteps, context))} and adds
     * d(loss * gradScale)/d(p) into the gradient of every tensor p that requires grad and that the
     * loss depends on: the UNet's parameters (or adapters), and, through {@code context}'s own
     * graph, the text encoder's. Gradients equal those of an ordinary backward up to float
     * rounding. Returns the loss value.
     */
    public static double forwardBackward(UNet2DConditionModel unet, Tensor sample, Tensor timesteps, Tensor context,
                                         Function<Tensor, Tensor> lossOf, double gradScale) {
        throw new UnsupportedOperationException("GradientCheckpointing.forwardBackward: not written yet");
    }
}
