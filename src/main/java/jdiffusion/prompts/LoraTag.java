package jdiffusion.prompts;

/**
 * A {@code <lora:NAME:...>} tag taken out of a prompt (AUTOMATIC1111's built-in Lora extension,
 * {@code extra_networks_lora.py}): {@code <lora:NAME>} is 1.0 for both parts,
 * {@code <lora:NAME:0.8>} 0.8 for both, {@code <lora:NAME:0.8:0.5>} or {@code <lora:NAME:te=0.8:unet=0.5>}
 * sets the text encoder and UNet multipliers apart.
 *
 * @param name         the LoRA's name as written (A1111 looks it up by file stem or alias)
 * @param teMultiplier the scale of its text-encoder part
 * @param unetMultiplier the scale of its UNet part
 */
public record LoraTag(String name, double teMultiplier, double unetMultiplier) {
    public LoraTag {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("a LoRA tag needs a name");
    }
}
