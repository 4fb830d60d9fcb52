package jdiffusion.models.clip;

import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * transformers {@code BaseModelOutputWithPooling} as {@code CLIPTextModel} returns it with
 * {@code output_hidden_states=True}.
 *
 * @param lastHiddenState [B, T, C], final LayerNorm applied: what the SD UNet is conditioned on
 * @param pooledOutput [B, C], {@code lastHiddenState} at each sequence's end-of-text token
 * @param hiddenStates {@code num_hidden_layers + 1} tensors of [B, T, C]: the embeddings, then the
 *     output of each encoder layer, final LayerNorm not applied
 */
public record CLIPTextOutput(Tensor lastHiddenState, Tensor pooledOutput, List<Tensor> hiddenStates) {
    public CLIPTextOutput {
        hiddenStates = List.copyOf(hiddenStates);
    }
}
