package jdiffusion.nn;

import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/embeddings.py {@code TimestepEmbedding}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/embeddings.py), the
 * SD subset: linear_1 -> SiLU -> linear_2 (no condition projection, no post-activation).
 */
public final class TimestepEmbedding extends JavaModule {
    private final LinearImpl linear1; // weight [timeEmbedDim, inChannels]
    private final LinearImpl linear2; // weight [timeEmbedDim, timeEmbedDim]

    public TimestepEmbedding(long inChannels, long timeEmbedDim) {
        linear1 = register_module("linear_1", Layers.linear(inChannels, timeEmbedDim, true));
        linear2 = register_module("linear_2", Layers.linear(timeEmbedDim, timeEmbedDim, true));
    }

    /** sample [B, inChannels] -> [B, timeEmbedDim]. */
    public Tensor forward(Tensor sample) {
        return linear2.forward(Functional.silu(linear1.forward(sample)));
    }
}
