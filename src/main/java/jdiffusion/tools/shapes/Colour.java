package jdiffusion.tools.shapes;

import java.util.List;

/**
 * The named colours of the procedural set, with the exact RGB the renderer paints. The values are
 * far apart (at least 100 in RGB distance) so that the scorer can name a colour after the
 * VAE and the diffusion model have blurred and shifted it a little.
 */
public enum Colour {
    RED(0xdc1414, List.of("red")),
    ORANGE(0xff8200, List.of("orange")),
    YELLOW(0xffe600, List.of("yellow")),
    GREEN(0x14aa28, List.of("green")),
    CYAN(0x00c8dc, List.of("cyan", "turquoise")),
    BLUE(0x1432dc, List.of("blue")),
    PURPLE(0x8228be, List.of("purple", "violet")),
    PINK(0xff6ebe, List.of("pink")),
    WHITE(0xffffff, List.of("white")),
    BLACK(0x000000, List.of("black"));

    private final int rgb;
    private final List<String> words;

    Colour(int rgb, List<String> words) {
        this.rgb = rgb;
        this.words = words;
    }

    /** {@code 0xRRGGBB}. */
    public int rgb() {
        return rgb;
    }

    public int red() {
        return (rgb >> 16) & 0xff;
    }

    public int green() {
        return (rgb >> 8) & 0xff;
    }

    public int blue() {
        return rgb & 0xff;
    }

    /** The words captions may use for this colour; the first is the canonical one. */
    public List<String> words() {
        return words;
    }

    /** Squared RGB distance to {@code (r, g, b)}. */
    public double distanceSquared(double r, double g, double b) {
        double dr = r - red();
        double dg = g - green();
        double db = b - blue();
        return dr * dr + dg * dg + db * db;
    }

    /** The named colour closest to {@code (r, g, b)} in RGB. */
    public static Colour nearest(double r, double g, double b) {
        Colour best = RED;
        for (Colour c : values()) {
            if (c.distanceSquared(r, g, b) < best.distanceSquared(r, g, b)) best = c;
        }
        return best;
    }
}
