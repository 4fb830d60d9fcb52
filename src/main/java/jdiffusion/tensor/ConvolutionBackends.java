package jdiffusion.tensor;

import org.bytedeco.pytorch.global.torch;

/**
 * Which of libtorch's CPU convolution implementations run. Only one choice is made: NNPACK is
 * switched off, so every float convolution goes to oneDNN on every CPU.
 *
 * <p>Why: libtorch asks NNPACK before each eligible convolution whether it can run; on CPUs that
 * NNPACK does not know (seen on an AMD EPYC Zen 5) each asking prints "Could not initialize
 * NNPACK! Reason: Unsupported hardware." - 562 lines for one 25-step image. Where NNPACK does
 * initialise it would take some forward convolutions (batches of 16 and more) away from oneDNN,
 * so the same model would run different kernels on different machines. The switch is libtorch's
 * own ({@code torch.backends.nnpack.set_flags(False)} in Python), read at every convolution.
 */
public final class ConvolutionBackends {
    private ConvolutionBackends() {}

    /** Switches NNPACK off for this process. Idempotent and cheap; the layer factory calls it. */
    public static void disableNnpack() {
        torch.globalContext().setUserEnabledNNPACK(false);
    }

    /** Whether libtorch may still pick NNPACK for a convolution. */
    public static boolean nnpackEnabled() {
        return torch.globalContext().userEnabledNNPACK();
    }
}
