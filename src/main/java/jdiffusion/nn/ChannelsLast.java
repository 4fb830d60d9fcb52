package jdiffusion.nn;

import jdiffusion.tensor.NativeMemory;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * Channels-last (NHWC) layout for the convolutional models on the CPU. oneDNN's convolutions work
 * in NHWC: given NCHW activations they reorder every input and output, which made bf16 3x3
 * convolutions at SD's sizes up to 2.5x slower (1x1 ones 3.5x). The weights are converted once
 * at load ({@link #convertWeights}); a model whose conv weights are channels-last converts its
 * input on entry ({@link #follow}) and every op after keeps the layout. Shapes and values are
 * unchanged: only the strides differ, so nothing outside the models sees it.
 */
public final class ChannelsLast {
    private ChannelsLast() {}

    /** Re-lays every 4-D parameter of {@code module} out as channels-last, in place. */
    public static void convertWeights(Module module) {
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            TensorVector params = module.parameters(true);
            long freedSinceTrim = 0;
            for (long i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                if (p.dim() == 4 && !p.is_contiguous(torch.MemoryFormat.ChannelsLast)) {
                    p.set_(p.contiguous(torch.MemoryFormat.ChannelsLast));
                    // glibc keeps the old copies' blocks and takes fresh ones for the new: without a
                    // trim now and then, SD 1.5's UNet in bf16 peaked 0.45 GB above its size here
                    freedSinceTrim += p.nbytes();
                    if (freedSinceTrim > TRIM_EVERY_BYTES) {
                        NativeMemory.trim();
                        freedSinceTrim = 0;
                    }
                }
            }
        }
    }

    private static final long TRIM_EVERY_BYTES = 64L << 20;

    /** {@code x} [B, C, H, W] in the layout of {@code convWeight}: channels-last when the weight is. */
    public static Tensor follow(Tensor x, Tensor convWeight) {
        boolean last = convWeight.size(1) > 1 && convWeight.is_contiguous(torch.MemoryFormat.ChannelsLast)
                && !convWeight.is_contiguous();
        return last ? x.contiguous(torch.MemoryFormat.ChannelsLast) : x;
    }
}
