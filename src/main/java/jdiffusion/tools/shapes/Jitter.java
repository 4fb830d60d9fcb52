package jdiffusion.tools.shapes;

import java.util.random.RandomGenerator;

/**
 * The small per-sample perturbation of a rendered scene, so that the model learns "top left" and
 * "small" as regions and ranges rather than as one exact bitmap per caption.
 *
 * @param dx shift right in fractions of the image width
 * @param dy shift down in fractions of the image height
 * @param scale factor on the nominal extent
 * @param degrees clockwise rotation
 */
public record Jitter(double dx, double dy, double scale, double degrees) {
    /** Drawn exactly at the anchor, nominal size, upright: the "one fixed style" of DreamBooth instances. */
    public static final Jitter NONE = new Jitter(0, 0, 1, 0);

    /** Largest shift: 2 pixels at 64x64, small against the 17 pixels between position anchors. */
    public static final double MAX_SHIFT = 2.0 / 64;
    /** Largest relative change of size: the two sizes stay apart by a factor of at least 1.4. */
    public static final double MAX_SCALE = 0.08;
    /** Largest tilt: far from the 45 degrees that would turn a square into a diamond. */
    public static final double MAX_DEGREES = 10;

    public Jitter {
        if (Math.abs(dx) > MAX_SHIFT + 1e-9 || Math.abs(dy) > MAX_SHIFT + 1e-9
                || Math.abs(scale - 1) > MAX_SCALE + 1e-9 || Math.abs(degrees) > MAX_DEGREES + 1e-9) {
            throw new IllegalArgumentException("jitter out of range: " + dx + ", " + dy + ", " + scale + ", " + degrees);
        }
    }

    /** A uniform draw within the limits. */
    public static Jitter random(RandomGenerator rng) {
        return new Jitter(
                rng.nextDouble(-MAX_SHIFT, MAX_SHIFT),
                rng.nextDouble(-MAX_SHIFT, MAX_SHIFT),
                rng.nextDouble(1 - MAX_SCALE, 1 + MAX_SCALE),
                rng.nextDouble(-MAX_DEGREES, MAX_DEGREES));
    }
}
