package jdiffusion.models.clip;

import java.util.List;

/**
 * A prompt as the text encoder receives it ({@code ids}: bos + at most maxLength - 2 text tokens +
 * eos, padded), with what truncation removed: diffusers' StableDiffusionPipeline only logs a
 * warning when a prompt is too long (see {@link #truncationWarning()}).
 *
 * @param text           the prompt as given
 * @param ids            the padded ids, length maxLength
 * @param untruncatedIds bos + every text token + eos (diffusers' {@code padding="longest"} call)
 * @param tokens         the BPE token strings of the whole prompt (no bos/eos)
 * @param removedText    the decoded text of the dropped tokens, "" when nothing was dropped
 */
public record EncodedPrompt(String text, int[] ids, int[] untruncatedIds, List<String> tokens, String removedText) {
    public EncodedPrompt {
        tokens = List.copyOf(tokens);
    }

    /** The number of text tokens before truncation (without bos/eos). */
    public int tokenCount() {
        return untruncatedIds.length - 2;
    }

    /** The number of text tokens the model sees (at most maxLength - 2). */
    public int keptTokenCount() {
        return Math.min(tokenCount(), ids.length - 2);
    }

    public boolean truncated() {
        return untruncatedIds.length > ids.length;
    }

    /**
     * diffusers' warning for a truncated prompt, word for word (the removed text printed as the
     * Python list that {@code tokenizer.batch_decode} returns); null when nothing was removed.
     */
    public String truncationWarning() {
        return truncated() ? truncationWarning(removedText, ids.length) : null;
    }

    /** diffusers' warning, word for word, for {@code removedText} cut from a prompt of maxLength ids. */
    public static String truncationWarning(String removedText, int maxLength) {
        return "The following part of your input was truncated because CLIP can only handle sequences up to "
                + maxLength + " tokens: [" + pythonRepr(removedText) + "]";
    }

    /** Python's repr() of a str: single quotes unless the text has ' and no ", escapes for the unprintable. */
    static String pythonRepr(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder out = new StringBuilder().append(quote);
        s.codePoints().forEach(cp -> {
            if (cp == quote || cp == '\\') out.append('\\').appendCodePoint(cp);
            else if (cp == '\n') out.append("\\n");
            else if (cp == '\r') out.append("\\r");
            else if (cp == '\t') out.append("\\t");
            else if (isPrintable(cp)) out.appendCodePoint(cp);
            else if (cp < 0x100) out.append(String.format("\\x%02x", cp));
            else if (cp < 0x10000) out.append(String.format("\\u%04x", cp));
            else out.append(String.format("\\U%08x", cp));
        });
        return out.append(quote).toString();
    }

    /** str.isprintable for one code point: not a control, format, surrogate, private, unassigned or separator (but ' '). */
    private static boolean isPrintable(int cp) {
        if (cp == ' ') return true;
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE, Character.UNASSIGNED,
                    Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR, Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }
}
