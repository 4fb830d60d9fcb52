package jdiffusion.prompts;

/** What happens to a prompt longer than the 75 text tokens CLIP sees at once. */
public enum LongPromptMode {
    /**
     * diffusers' StableDiffusionPipeline: bos + the first 75 text tokens + eos, the rest dropped
     * with a warning (golden case pipe_txt2img_long_prompt). Output [1, 77, C].
     */
    TRUNCATE,
    /**
     * AUTOMATIC1111: the tokens are cut into chunks of 75 (at a nearby comma when there is one,
     * and wherever the prompt says BREAK), each chunk is encoded on its own as bos + 75 + eos and
     * the results are concatenated along the sequence axis. Output [1, 77 * chunks, C].
     */
    CHUNK
}
