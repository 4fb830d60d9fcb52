package jdiffusion.tools.shapes;

import java.awt.image.BufferedImage;
import java.util.ArrayDeque;
import java.util.Arrays;
import jdiffusion.image.Images;

/**
 * Splits an image into background and one shape. The background colour is the median of the
 * border; the shape colour is the median of the pixels that differ most from it; every pixel then
 * gets a coverage in [0, 1] by projecting its colour on the line from background to shape colour,
 * which turns anti-aliasing and blur into sub-pixel edges. Noise is tamed by a 3x3 median filter
 * and by keeping only the largest connected region.
 */
final class Foreground {
    /** The analysis resolution: the training resolution, so thresholds in pixels mean the same everywhere. */
    static final int N = ShapeRenderer.SIZE;
    /** RGB distance from the background below which a pixel is never taken for the shape's colour. */
    private static final double MIN_CONTRAST = 60;
    /** The shape colour is taken from the pixels above this quantile of distance from the background. */
    private static final double CORE = 0.75;
    /** Fewer pixels than this is a speck, not a shape. */
    private static final int MIN_PIXELS = 6;

    /** Median RGB of the border. */
    final double[] background;
    /** Median RGB of the shape's core, or null when nothing stands out from the background. */
    final double[] colour;
    /** Coverage per pixel (row-major, N x N), zero away from the shape's region. */
    final float[] coverage;
    /** The shape's region: the largest connected set of pixels covered more than half. */
    final boolean[] mask;

    private Foreground(double[] background, double[] colour, float[] coverage, boolean[] mask) {
        this.background = background;
        this.colour = colour;
        this.coverage = coverage;
        this.mask = mask;
    }

    boolean found() {
        return colour != null;
    }

    static Foreground of(BufferedImage image) {
        BufferedImage img = image.getWidth() == N && image.getHeight() == N
                ? image : Images.fit(Images.toRgb(image), N, N, Images.ResizeMode.RESIZE);
        double[][] rgb = median3x3(channels(img));

        // 1. Background: the median of a two-pixel border ring (a large shape may touch one side).
        double[] bg = new double[3];
        for (int c = 0; c < 3; c++) {
            double[] ring = new double[N * N - (N - 4) * (N - 4)];
            int k = 0;
            for (int y = 0; y < N; y++) {
                for (int x = 0; x < N; x++) {
                    if (x < 2 || y < 2 || x >= N - 2 || y >= N - 2) ring[k++] = rgb[c][y * N + x];
                }
            }
            bg[c] = median(ring);
        }

        // 2. Shape colour: the largest region that clearly differs from the background, then the
        //    median over its most distant pixels (the rest mixes with the background at the edges,
        //    and in a small blurred shape almost every pixel does).
        double[] dist = new double[N * N];
        boolean[] differs = new boolean[N * N];
        for (int i = 0; i < N * N; i++) {
            dist[i] = Math.sqrt(sq(rgb[0][i] - bg[0]) + sq(rgb[1][i] - bg[1]) + sq(rgb[2][i] - bg[2]));
            differs[i] = dist[i] > MIN_CONTRAST;
        }
        boolean[] region = largestRegion(differs);
        int[] members = indices(region);
        if (members.length < MIN_PIXELS) return nothing(bg);
        double[] d = new double[members.length];
        for (int j = 0; j < members.length; j++) d[j] = dist[members[j]];
        Arrays.sort(d);
        double cut = d[(int) (d.length * CORE)];
        double[] fg = new double[3];
        for (int c = 0; c < 3; c++) {
            double[] v = new double[members.length];
            int k = 0;
            for (int m : members) {
                if (dist[m] >= cut) v[k++] = rgb[c][m];
            }
            fg[c] = median(Arrays.copyOf(v, k));
        }

        // 3. Coverage: where each pixel lies between background (0) and shape colour (1).
        double[] axis = {fg[0] - bg[0], fg[1] - bg[1], fg[2] - bg[2]};
        double len2 = sq(axis[0]) + sq(axis[1]) + sq(axis[2]);
        float[] coverage = new float[N * N];
        boolean[] half = new boolean[N * N];
        for (int i = 0; i < N * N; i++) {
            double t = ((rgb[0][i] - bg[0]) * axis[0] + (rgb[1][i] - bg[1]) * axis[1] + (rgb[2][i] - bg[2]) * axis[2]) / len2;
            coverage[i] = (float) Math.clamp(t, 0, 1);
            half[i] = t > 0.5;
        }
        boolean[] mask = largestRegion(half);
        if (indices(mask).length < MIN_PIXELS) return nothing(bg);

        // 4. Keep coverage only on the region and its one-pixel rim (the rim holds the sub-pixel edge).
        for (int y = 0; y < N; y++) {
            for (int x = 0; x < N; x++) {
                if (!nearMask(mask, x, y)) coverage[y * N + x] = 0;
            }
        }
        return new Foreground(bg, fg, coverage, mask);
    }

    /** Only background: nothing stands out from it. */
    private static Foreground nothing(double[] background) {
        return new Foreground(background, null, new float[N * N], new boolean[N * N]);
    }

    private static boolean nearMask(boolean[] mask, int x, int y) {
        for (int dy = -1; dy <= 1; dy++) {
            for (int dx = -1; dx <= 1; dx++) {
                int xx = x + dx;
                int yy = y + dy;
                if (xx >= 0 && yy >= 0 && xx < N && yy < N && mask[yy * N + xx]) return true;
            }
        }
        return false;
    }

    /** The largest 8-connected set of true pixels. */
    static boolean[] largestRegion(boolean[] on) {
        int[] label = new int[N * N];
        int best = 0;
        int bestSize = 0;
        int next = 0;
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        for (int start = 0; start < N * N; start++) {
            if (!on[start] || label[start] != 0) continue;
            label[start] = ++next;
            queue.add(start);
            int size = 0;
            while (!queue.isEmpty()) {
                int i = queue.poll();
                size++;
                int x = i % N;
                int y = i / N;
                for (int dy = -1; dy <= 1; dy++) {
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx;
                        int yy = y + dy;
                        if (xx < 0 || yy < 0 || xx >= N || yy >= N) continue;
                        int j = yy * N + xx;
                        if (on[j] && label[j] == 0) {
                            label[j] = next;
                            queue.add(j);
                        }
                    }
                }
            }
            if (size > bestSize) {
                bestSize = size;
                best = next;
            }
        }
        boolean[] out = new boolean[N * N];
        for (int i = 0; i < N * N; i++) out[i] = best != 0 && label[i] == best;
        return out;
    }

    static int[] indices(boolean[] on) {
        int n = 0;
        for (boolean b : on) if (b) n++;
        int[] out = new int[n];
        int k = 0;
        for (int i = 0; i < on.length; i++) if (on[i]) out[k++] = i;
        return out;
    }

    private static double[][] channels(BufferedImage img) {
        double[][] out = new double[3][N * N];
        for (int y = 0; y < N; y++) {
            for (int x = 0; x < N; x++) {
                int p = img.getRGB(x, y);
                out[0][y * N + x] = (p >> 16) & 0xff;
                out[1][y * N + x] = (p >> 8) & 0xff;
                out[2][y * N + x] = p & 0xff;
            }
        }
        return out;
    }

    /** Per-channel 3x3 median (edge pixels use the neighbours that exist). */
    private static double[][] median3x3(double[][] in) {
        double[][] out = new double[3][N * N];
        double[] window = new double[9];
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < N; y++) {
                for (int x = 0; x < N; x++) {
                    int k = 0;
                    for (int dy = -1; dy <= 1; dy++) {
                        for (int dx = -1; dx <= 1; dx++) {
                            int xx = x + dx;
                            int yy = y + dy;
                            if (xx >= 0 && yy >= 0 && xx < N && yy < N) window[k++] = in[c][yy * N + xx];
                        }
                    }
                    out[c][y * N + x] = median(Arrays.copyOf(window, k));
                }
            }
        }
        return out;
    }

    /** The median of {@code v} (sorts it). */
    private static double median(double[] v) {
        Arrays.sort(v);
        int n = v.length;
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }

    private static double sq(double v) {
        return v * v;
    }
}
