package jdiffusion.prompts;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * A prompt and its negative prompt, encoded to the same length so that classifier-free guidance
 * can run them as one UNet batch.
 *
 * @param prompt   the positive prompt's conditioning
 * @param negative the negative (unconditional) prompt's conditioning, same shape as {@code prompt}
 */
public record PromptEmbedsPair(PromptEmbeds prompt, PromptEmbeds negative) {
    /** [2, L, C]: negative first, then positive, the order of diffusers' CFG batch. */
    public Tensor guidanceBatch() {
        return torch.cat(new TensorVector(negative.embeds(), prompt.embeds()), 0);
    }
}
