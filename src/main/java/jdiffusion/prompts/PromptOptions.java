package jdiffusion.prompts;

import jdiffusion.JDiffusionException;

/**
 * How a prompt becomes text conditioning. Two presets name the two conventions in use:
 * {@link #DIFFUSERS} (what StableDiffusionPipeline does) and {@link #A1111} (AUTOMATIC1111's web UI).
 *
 * @param longPrompts      truncate at 75 tokens or chunk
 * @param emphasis         whether {@code (word:1.3)} is syntax and how its weights act
 * @param clipSkip         diffusers' convention: 0 = last layer, 1 = penultimate (A1111's "Clip skip: 2");
 *                         see {@link #withA1111ClipSkip}
 * @param clipSkipNegative whether the negative prompt is clip-skipped too: A1111 does, diffusers
 *                         does not (golden case pipe_txt2img_clip_skip)
 * @param commaBacktrack   A1111's {@code comma_padding_backtrack}: when a chunk fills up, the tokens
 *                         after the last comma move to the next chunk if there are at most this many
 *                         (0 = off); used in {@link LongPromptMode#CHUNK} mode only
 */
public record PromptOptions(LongPromptMode longPrompts, Emphasis emphasis, int clipSkip, boolean clipSkipNegative,
                            int commaBacktrack) {
    /** diffusers: truncate at 77, no syntax, clip skip on the positive prompt only. */
    public static final PromptOptions DIFFUSERS = new PromptOptions(LongPromptMode.TRUNCATE, Emphasis.NONE, 0, false, 20);
    /** AUTOMATIC1111 defaults: 75-token chunks, "Original" emphasis, clip skip on both prompts, backtrack 20. */
    public static final PromptOptions A1111 = new PromptOptions(LongPromptMode.CHUNK, Emphasis.ORIGINAL, 0, true, 20);

    public PromptOptions {
        if (longPrompts == null) throw new JDiffusionException("longPrompts must be TRUNCATE or CHUNK");
        if (emphasis == null) throw new JDiffusionException("emphasis must be NONE, IGNORE, ORIGINAL or NO_NORM");
        if (clipSkip < 0) throw new JDiffusionException("clip skip must be 0 or more (0 = last layer), got " + clipSkip);
        if (commaBacktrack < 0 || commaBacktrack > 74) {
            throw new JDiffusionException("comma backtrack must be 0..74 tokens (A1111's default is 20), got " + commaBacktrack);
        }
    }

    /** With diffusers' clip_skip (0 = last layer, 1 = penultimate). */
    public PromptOptions withClipSkip(int diffusersClipSkip) {
        return new PromptOptions(longPrompts, emphasis, diffusersClipSkip, clipSkipNegative, commaBacktrack);
    }

    /**
     * With AUTOMATIC1111's "Clip skip" setting ({@code CLIP_stop_at_last_layers}): 1 = last layer,
     * 2 = penultimate, which is diffusers' value plus one. A1111 applies it to both prompts, so this
     * also sets {@code clipSkipNegative}.
     */
    public PromptOptions withA1111ClipSkip(int stopAtLastLayers) {
        if (stopAtLastLayers < 1) {
            throw new JDiffusionException("A1111's clip skip counts from 1 (1 = last layer, 2 = penultimate), got "
                    + stopAtLastLayers);
        }
        return new PromptOptions(longPrompts, emphasis, stopAtLastLayers - 1, true, commaBacktrack);
    }

    public PromptOptions withLongPrompts(LongPromptMode mode) {
        return new PromptOptions(mode, emphasis, clipSkip, clipSkipNegative, commaBacktrack);
    }

    public PromptOptions withEmphasis(Emphasis mode) {
        return new PromptOptions(longPrompts, mode, clipSkip, clipSkipNegative, commaBacktrack);
    }

    public PromptOptions withCommaBacktrack(int tokens) {
        return new PromptOptions(longPrompts, emphasis, clipSkip, clipSkipNegative, tokens);
    }

    /** The clip skip of the negative prompt under these options. */
    public int negativeClipSkip() {
        return clipSkipNegative ? clipSkip : 0;
    }
}
