package jdiffusion.pipelines;

import java.util.Arrays;
import jdiffusion.JDiffusionException;

/**
 * How hires fix enlarges the first pass (AUTOMATIC1111's {@code shared.latent_upscale_modes} and its two
 * plain image upscalers): the latents interpolated with {@code F.interpolate(mode, antialias)}, or the
 * decoded image resized and encoded again.
 */
public enum HiresUpscaler {
    LATENT("Latent", "bilinear", false),
    LATENT_ANTIALIASED("Latent (antialiased)", "bilinear", true),
    LATENT_BICUBIC("Latent (bicubic)", "bicubic", false),
    LATENT_BICUBIC_ANTIALIASED("Latent (bicubic antialiased)", "bicubic", true),
    LATENT_NEAREST("Latent (nearest)", "nearest", false),
    LATENT_NEAREST_EXACT("Latent (nearest-exact)", "nearest-exact", false),
    /** Decode, PIL-style Lanczos resize of the image, encode. */
    LANCZOS("Lanczos", null, false),
    /** Decode, nearest-neighbour resize of the image, encode. */
    NEAREST("Nearest", null, false);

    private final String a1111Name;
    private final String mode;
    private final boolean antialias;

    HiresUpscaler(String a1111Name, String mode, boolean antialias) {
        this.a1111Name = a1111Name;
        this.mode = mode;
        this.antialias = antialias;
    }

    /** The name A1111 shows and writes into the PNG parameters. */
    public String a1111Name() {
        return a1111Name;
    }

    /** Whether the latents are interpolated (else the image is). */
    public boolean isLatent() {
        return mode != null;
    }

    /** {@code F.interpolate}'s mode for a latent upscaler. */
    String mode() {
        return mode;
    }

    boolean antialias() {
        return antialias;
    }

    /** By A1111 name, case-insensitive; an unknown name lists the known ones. */
    public static HiresUpscaler of(String name) {
        for (HiresUpscaler u : values()) {
            if (u.a1111Name.equalsIgnoreCase(name.strip())) return u;
        }
        throw new JDiffusionException("--hires-upscaler \"" + name + "\" is unknown; use one of: "
                + String.join(", ", Arrays.stream(values()).map(u -> "\"" + u.a1111Name + "\"").toList()));
    }
}
