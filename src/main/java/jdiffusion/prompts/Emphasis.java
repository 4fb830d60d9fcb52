package jdiffusion.prompts;

/**
 * How attention weights such as {@code (word:1.3)} act, named after AUTOMATIC1111's "Emphasis mode"
 * setting (<a href="https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/sd_emphasis.py">sd_emphasis.py</a>).
 */
public enum Emphasis {
    /** No parsing: brackets, colons and BREAK are plain text (diffusers, and A1111's "None"). */
    NONE,
    /** The syntax is parsed (brackets removed, BREAK honoured) but the weights are not applied (A1111's "Ignore"). */
    IGNORE,
    /**
     * A1111's default "Original": each token's output vector is multiplied by its weight, then the
     * chunk is rescaled so that its mean equals the unweighted mean.
     */
    ORIGINAL,
    /** "No norm": the weights multiply the output vectors and the mean is not restored. */
    NO_NORM;

    /** Whether the prompt goes through {@link PromptParser#parseAttention}. */
    boolean parses() {
        return this != NONE;
    }

    /** Whether the weights change the text encoder's output. */
    boolean weights() {
        return this == ORIGINAL || this == NO_NORM;
    }
}
