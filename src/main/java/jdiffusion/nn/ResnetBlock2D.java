package jdiffusion.nn;

import java.util.List;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/resnet.py {@code ResnetBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/resnet.py), the SD
 * subset: time_embedding_norm "default", SiLU, no up/down-sampling inside the block, dropout
 * (identity at inference) left out.
 */
public final class ResnetBlock2D extends JavaModule {
    private final GroupNormImpl norm1;     // [in]
    private final Conv2dImpl conv1;        // [out, in, 3, 3]
    private final LinearImpl timeEmbProj;  // [out, temb]; null in the VAE (no time embedding)
    private final GroupNormImpl norm2;     // [out]
    private final Conv2dImpl conv2;        // [out, out, 3, 3]
    private final Conv2dImpl convShortcut; // [out, in, 1, 1]; only when in != out
    private final double outputScaleFactor;

    /**
     * @param tembChannels width of the time embedding, or 0 for a block without one (VAE)
     * @param groups       GroupNorm groups of both norms
     */
    public ResnetBlock2D(long inChannels, long outChannels, long tembChannels, long groups, double eps,
                         double outputScaleFactor) {
        this.outputScaleFactor = outputScaleFactor;
        norm1 = register_module("norm1", Layers.groupNorm(groups, inChannels, eps));
        conv1 = register_module("conv1", Layers.conv2d(inChannels, outChannels, 3, 1, 1));
        timeEmbProj = tembChannels > 0
                ? register_module("time_emb_proj", Layers.linear(tembChannels, outChannels, true)) : null;
        norm2 = register_module("norm2", Layers.groupNorm(groups, outChannels, eps));
        conv2 = register_module("conv2", Layers.conv2d(outChannels, outChannels, 3, 1, 1));
        convShortcut = inChannels != outChannels
                ? register_module("conv_shortcut", Layers.conv2d(inChannels, outChannels, 1, 1, 0)) : null;
    }

    /** x [B, in, H, W], temb [B, temb] or null -> [B, out, H, W]. */
    public Tensor forward(Tensor x, Tensor temb) {
        return Scopes.keep(() -> {
            // each half in a scope of its own, so that a convolution's normalised input goes as soon as
            // it has run and the first half's output once the second has: all of a block's temporaries
            // alive at once were the VAE decode's peak (SD at 512x512 in bf16: +0.63 GB, now +0.47)
            Tensor h = Scopes.sequence(x, List.of(in -> firstHalf(in, temb), this::secondHalf));
            Tensor shortcut = convShortcut == null ? x : convShortcut.forward(x);
            // shortcut + h: in place into h when no graph is built (the same sum: IEEE addition commutes)
            Tensor out = GradMode.is_enabled() ? shortcut.add(h) : h.add_(shortcut);
            // diffusers always divides; skip the exact no-op division by 1
            return outputScaleFactor == 1.0 ? out : Functional.div(out, outputScaleFactor);
        });
    }

    private Tensor firstHalf(Tensor x, Tensor temb) {
        Tensor h = conv1.forward(Functional.siluOfTemporary(norm1.forward(x)));
        if (timeEmbProj != null && temb != null) {
            // [B, out] -> [B, out, 1, 1], broadcast over the pixels
            h = h.add(timeEmbProj.forward(Functional.silu(temb)).unsqueeze(-1).unsqueeze(-1));
        }
        return h;
    }

    private Tensor secondHalf(Tensor h) {
        return conv2.forward(Functional.siluOfTemporary(norm2.forward(h)));
    }
}
