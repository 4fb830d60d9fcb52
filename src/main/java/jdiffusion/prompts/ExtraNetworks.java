package jdiffusion.prompts;

import java.util.List;

/**
 * A prompt with its extra-network tags ({@code <kind:args>}) taken out, as AUTOMATIC1111's
 * {@code extra_networks.parse_prompt} does before the text reaches the text encoder.
 *
 * @param prompt      the prompt without any tag; this is what gets encoded
 * @param loras       the {@code <lora:...>} (and {@code <lyco:...>}) tags in prompt order
 * @param otherTags   tags of kinds this project does not apply ({@code <hypernet:...>}, ...), as
 *                    written, so that the caller can warn that they were ignored
 */
public record ExtraNetworks(String prompt, List<LoraTag> loras, List<String> otherTags) {
    public ExtraNetworks {
        loras = List.copyOf(loras);
        otherTags = List.copyOf(otherTags);
    }
}
