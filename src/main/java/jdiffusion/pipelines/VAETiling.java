package jdiffusion.pipelines;

/**
 * Whether the VAE works in overlapping tiles (diffusers' {@code enable_vae_tiling}, see
 * {@link jdiffusion.models.vae.AutoencoderKL#decodeTiled}): memory then stays that of one tile
 * whatever the image size, at the price of a slightly different image (each tile sees only its
 * neighbourhood; the overlaps are blended linearly, so there are no seams).
 */
public enum VAETiling {
    /**
     * Tiled when the image is larger than 2x2 tiles (above 1024x1024 pixels for SD 1.x/2.x, whose
     * VAE tile is 512): below that the untiled VAE fits in a few GB and gives diffusers' image exactly.
     */
    AUTO,
    /** Tiled whenever the image is larger than one tile, as diffusers with tiling enabled. */
    ON,
    /** Never tiled: diffusers' default. */
    OFF;

    /**
     * Whether an image of {@code height x width} pixels goes through a VAE whose tiles are
     * {@code tile} pixels in tiles. ON says yes even for one tile; the VAE then skips tiling by
     * itself, as diffusers does.
     */
    public boolean tiles(long height, long width, long tile) {
        return switch (this) {
            case OFF -> false;
            case ON -> true;
            case AUTO -> height * width > 4 * tile * tile;
        };
    }
}
