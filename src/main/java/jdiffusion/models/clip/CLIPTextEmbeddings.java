package jdiffusion.models.clip;

import jdiffusion.nn.JavaModule;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * transformers {@code CLIPTextEmbeddings}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py">modeling_clip.py</a>):
 * token embedding plus learned absolute position embedding.
 *
 * <p>transformers also keeps a {@code position_ids} buffer (0..76); it is non-persistent, so it is
 * not registered here, and {@code KeyMap.clipText()} drops it from older checkpoints that saved it.
 */
final class CLIPTextEmbeddings extends JavaModule {
    final EmbeddingImpl tokenEmbedding; // weight [vocab, C]
    final EmbeddingImpl positionEmbedding; // weight [max_positions, C]

    CLIPTextEmbeddings(CLIPTextConfig config) {
        this.tokenEmbedding = register_module("token_embedding",
                new EmbeddingImpl(config.vocabSize(), config.hiddenSize()));
        this.positionEmbedding = register_module("position_embedding",
                new EmbeddingImpl(config.maxPositionEmbeddings(), config.hiddenSize()));
    }

    /** inputIds [B, T] int64 -> [B, T, C]. */
    Tensor forward(Tensor inputIds) {
        return forwardEmbeds(tokenEmbedding.forward(inputIds));
    }

    /**
     * transformers' {@code inputs_embeds} path: token embeddings [B, T, C] (looked up, or made by
     * hand for textual inversion and prompt surgery) plus the position embeddings -> [B, T, C].
     */
    Tensor forwardEmbeds(Tensor inputsEmbeds) {
        long t = inputsEmbeds.size(1);
        // Rows 0..T-1 of the table are exactly embedding(position_ids[:, :T]); [T, C] broadcasts over B.
        Tensor positions = positionEmbedding.weight().narrow(0, 0, t);
        return inputsEmbeds.add(positions);
    }
}
