package jdiffusion.prompts;

import org.bytedeco.pytorch.Tensor;

/**
 * A prompt's text conditioning and what was done to get it.
 *
 * @param embeds            [1, 77 * chunks, C] in the text encoder's dtype, on its device; it
 *                          belongs to the PointerScope that was open when it was encoded
 * @param mode              how a long prompt was handled
 * @param clipSkip          the layer used, in diffusers' convention (0 = last)
 * @param chunks            the number of 77-token chunks in {@code embeds} (1 when truncated)
 * @param tokenCount        the prompt's text tokens (textual inversion vectors counted one each),
 *                          before any truncation
 * @param truncationWarning diffusers' message naming the dropped text, word for word, or null when
 *                          nothing was dropped (only {@link LongPromptMode#TRUNCATE} drops text)
 */
public record PromptEmbeds(Tensor embeds, LongPromptMode mode, int clipSkip, int chunks, int tokenCount,
                           String truncationWarning) {
    public boolean truncated() {
        return truncationWarning != null;
    }
}
