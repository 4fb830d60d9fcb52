package jdiffusion.models.clip;

import java.util.List;
import jdiffusion.nn.JavaModule;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LongOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * transformers {@code CLIPTextTransformer}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py">modeling_clip.py</a>):
 * embeddings, causal encoder, final LayerNorm and end-of-text pooling.
 */
final class CLIPTextTransformer extends JavaModule {
    private final CLIPTextConfig config;
    final CLIPTextEmbeddings embeddings;
    final CLIPEncoder encoder;
    final LayerNormImpl finalLayerNorm; // weight [C], bias [C]

    CLIPTextTransformer(CLIPTextConfig config) {
        this.config = config;
        this.embeddings = register_module("embeddings", new CLIPTextEmbeddings(config));
        this.encoder = register_module("encoder", new CLIPEncoder(CLIPEncoderShape.of(config)));
        this.finalLayerNorm = register_module("final_layer_norm", CLIPEncoderLayer.layerNorm(CLIPEncoderShape.of(config)));
    }

    /** inputIds [B, T] int64 on the model's device; the full transformers output. */
    CLIPTextOutput forward(Tensor inputIds) {
        return forwardEmbeds(embeddings.tokenEmbedding.forward(inputIds), inputIds);
    }

    /**
     * The full output from token embeddings [B, T, C] (no positions yet); inputIds [B, T] only
     * locate the end-of-text token for pooling.
     */
    CLIPTextOutput forwardEmbeds(Tensor inputsEmbeds, Tensor inputIds) {
        List<Tensor> hiddenStates = encoder.forwardAll(embeddings.forwardEmbeds(inputsEmbeds));
        Tensor last = finalLayerNorm.forward(hiddenStates.getLast()); // [B, T, C]
        return new CLIPTextOutput(last, pool(last, inputIds), hiddenStates);
    }

    /**
     * {@code final_layer_norm(hidden_states[layers])}: the embeddings run through the first
     * {@code layers} encoder layers only, then the final LayerNorm. [B, T] -> [B, T, C].
     */
    Tensor forward(Tensor inputIds, int layers) {
        return forwardEmbeds(embeddings.tokenEmbedding.forward(inputIds), layers);
    }

    /** As {@link #forward(Tensor, int)} from token embeddings [B, T, C] (no positions yet). */
    Tensor forwardEmbeds(Tensor inputsEmbeds, int layers) {
        return finalLayerNorm.forward(encoder.forward(embeddings.forwardEmbeds(inputsEmbeds), layers));
    }

    /**
     * The hidden state at each sequence's end-of-text token: [B, T, C] -> [B, C]. transformers 4.47
     * keeps two rules. Configs saved before PR #24773 carry eos_token_id 2 (the SD 1.x/2.x files do);
     * for them the position is the argmax of the ids, which is the eos token because 49407 is the
     * largest id of CLIP's vocabulary. Otherwise it is the first position holding eos_token_id (the
     * pad token may equal eos, so "first" matters). torch's argmax returns the first maximum in both.
     */
    private Tensor pool(Tensor last, Tensor inputIds) {
        // transformers casts to int32 first (an ONNX concession); the ids fit, so the result is equal.
        Tensor ids = inputIds.to(ScalarType.Int);
        Tensor key = config.legacyEosPooling() ? ids : ids.eq(new Scalar(config.eosTokenId())).to(ScalarType.Int);
        Tensor position = key.argmax(new LongOptional(-1), false); // [B] int64
        long b = last.size(0);
        long c = last.size(2);
        Tensor index = position.view(b, 1, 1).expand(b, 1, c); // [B] -> [B, 1, C]
        return last.gather(1, index).squeeze(1); // [B, 1, C] -> [B, C]
    }
}
