package jdiffusion.prompts;

/**
 * One entry of AUTOMATIC1111's {@code parse_prompt_attention} result: a run of prompt text and the
 * attention multiplier its tokens get.
 *
 * <p>A1111 marks a {@code BREAK} keyword as the entry {@code ["BREAK", -1]} and keeps it in the same
 * list, so enclosing brackets multiply it too. The encoder honours only an exact -1, as A1111 does:
 * {@code (a BREAK b)} gives the text "BREAK" with weight -1.1, not a chunk break. That quirk is kept
 * so that A1111 prompts give A1111 conditioning.
 *
 * @param text   the text, escapes resolved ({@code \(} is "(")
 * @param weight the product of the enclosing brackets' multipliers (1.0 outside any)
 */
public record PromptFragment(String text, double weight) {
    /** The marker A1111 puts where the prompt says {@code BREAK}. */
    public static final PromptFragment BREAK = new PromptFragment("BREAK", -1.0);

    public PromptFragment {
        if (text == null) throw new IllegalArgumentException("text must not be null");
    }

    /** True for A1111's unmodified BREAK marker: the encoder starts a new 75-token chunk here. */
    public boolean isBreak() {
        return weight == -1.0 && text.equals("BREAK");
    }
}
