package jdiffusion.tools.shapes;

import java.util.Arrays;

/**
 * Geometry of the shape's region, and the shape family it implies. The main test is the radial
 * profile: the distance from the centroid to the outermost edge along 128 rays, divided by its
 * mean. Its Fourier amplitudes are rotation-invariant and say how many-fold the outline is: a
 * triangle is 3-fold, a square, diamond or cross 4-fold, a star 5-fold, a circle nothing. The
 * phase of the 4-fold term says whether the far points lie on the axes (diamond, cross) or the
 * diagonals (square), and solidity (area over convex-hull area) tells the concave cross from the
 * convex diamond. Blur rounds corners, which lowers every amplitude alike, so the dominant term
 * survives it. The thresholds come from the families as {@link ShapeRenderer} and the tests'
 * independently hand-drawn variants draw them, clean, blurred and noisy; each is named where used.
 *
 * @param area covered pixels (sub-pixel, at 64x64)
 * @param centreX centroid, fraction of the width
 * @param centreY centroid, fraction of the height
 * @param extent larger side of the region's bounding box, fraction of the width (for reports)
 * @param harmonics {@code harmonics[k]} = amplitude of the k-fold term of the normalised radial profile, k = 0..6
 *     (an array: compare features by their fields, not with equals)
 * @param axial4 the 4-fold term's cosine part: positive when the far points lie on the axes, negative on the diagonals
 * @param solidity area over the area of the convex hull (1 for convex shapes)
 */
public record ShapeFeatures(double area, double centreX, double centreY, double extent, double[] harmonics,
        double axial4, double solidity) {
    /** Below this every 3- to 5-fold term is noise: round (squares stay above 0.05 even when blurred). */
    static final double ROUND = 0.035;
    /** Above this 2-fold term an outline is clearly elongated. */
    static final double ELONGATED = 0.04;
    private static final int RAYS = 128;

    /** The shape family these features imply. */
    public Shape shape() {
        int k = 3;
        for (int j = 4; j <= 5; j++) {
            if (harmonics[j] > harmonics[k]) k = j;
        }
        // No corners: round, or an oval. Only the diamond is elongated (2-fold term about 0.065,
        // circles stay below 0.01 even with noise), and a small diamond blurred loses its corners
        // first, so a clear oval counts as a diamond.
        if (harmonics[k] < ROUND) return harmonics[2] > ELONGATED ? Shape.DIAMOND : Shape.CIRCLE;
        return switch (k) {
            case 3 -> Shape.TRIANGLE;
            case 4 -> concave() ? Shape.CROSS : axial4 < 0 ? Shape.SQUARE : Shape.DIAMOND;
            default -> Shape.STAR;
        };
    }

    /**
     * The cross against the diamond: both are 4-fold with their far points on the axes, but the
     * cross has deep notches, so a stronger 4-fold term (0.10 to 0.17 against at most 0.075) and a
     * lower solidity (0.75 to 0.90 against at least 0.94), and it is as wide as tall where the
     * diamond is elongated (2-fold term near 0 against 0.05 to 0.10). Blur and small sizes push
     * every cue towards the diamond, so they are weighed together, each in units of about the gap
     * between the two families on that cue.
     */
    boolean concave() {
        return (harmonics[4] - 0.09) / 0.03 + (0.92 - solidity) / 0.04 + (0.03 - harmonics[2]) / 0.03 > 0;
    }

    public Position position() {
        return Position.nearest(centreX, centreY);
    }

    /**
     * The size from the area, which blur keeps: the extent a shape of the detected family would
     * have at this area when drawn as the renderer draws it. The bounding box would depend on the
     * family's proportions and the tilt.
     */
    public Size size() {
        return Size.nearest(2 * Math.sqrt(area / ShapeRenderer.unitArea(shape())) / Foreground.N);
    }

    static ShapeFeatures of(Foreground fg) {
        int n = Foreground.N;
        float[] cov = fg.coverage;
        double area = 0;
        double sx = 0;
        double sy = 0;
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                double c = cov[y * n + x];
                area += c;
                sx += c * (x + 0.5);
                sy += c * (y + 0.5);
            }
        }
        double cx = sx / area;
        double cy = sy / area;

        int minX = n, minY = n, maxX = -1, maxY = -1;
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                if (!fg.mask[y * n + x]) continue;
                minX = Math.min(minX, x);
                maxX = Math.max(maxX, x);
                minY = Math.min(minY, y);
                maxY = Math.max(maxY, y);
            }
        }
        double extent = Math.max(maxX - minX + 1, maxY - minY + 1) / (double) n;

        // Radial profile, then its Fourier amplitudes.
        double[] r = new double[RAYS];
        // Rays need not go beyond the farthest corner of the region's bounding box (plus the rim).
        double reach = 2 + Math.hypot(Math.max(cx - minX, maxX + 1 - cx), Math.max(cy - minY, maxY + 1 - cy));
        for (int j = 0; j < RAYS; j++) r[j] = edge(cov, cx, cy, 2 * Math.PI * j / RAYS, reach);
        double mean = Arrays.stream(r).average().orElse(0);
        double[] harmonics = new double[7];
        double axial4 = 0;
        for (int k = 0; k < harmonics.length; k++) {
            double re = 0;
            double im = 0;
            for (int j = 0; j < RAYS; j++) {
                double a = 2 * Math.PI * j / RAYS;
                re += r[j] / mean * Math.cos(k * a);
                im -= r[j] / mean * Math.sin(k * a);
            }
            harmonics[k] = Math.hypot(re, im) / RAYS;
            if (k == 4) axial4 = re / RAYS;
        }
        return new ShapeFeatures(area, cx / n, cy / n, extent, harmonics, axial4, solidity(r));
    }

    /**
     * Distance from {@code (cx, cy)} along angle {@code a} to the last point where the coverage
     * falls below one half: the outer edge, even for a concave outline.
     */
    private static double edge(float[] cov, double cx, double cy, double a, double reach) {
        double step = 0.25;
        double dx = Math.cos(a);
        double dy = Math.sin(a);
        double last = 0;
        double prev = coverage(cov, cx, cy);
        for (double t = step; t < reach; t += step) {
            double c = coverage(cov, cx + t * dx, cy + t * dy);
            if (prev >= 0.5 && c < 0.5) last = t - step + step * (prev - 0.5) / (prev - c);
            prev = c;
        }
        return last;
    }

    /** Bilinear coverage at a point in pixel coordinates (pixel i spans [i, i + 1)). */
    private static double coverage(float[] cov, double px, double py) {
        int n = Foreground.N;
        double x = px - 0.5;
        double y = py - 0.5;
        int x0 = (int) Math.floor(x);
        int y0 = (int) Math.floor(y);
        double fx = x - x0;
        double fy = y - y0;
        return (1 - fx) * (1 - fy) * at(cov, n, x0, y0) + fx * (1 - fy) * at(cov, n, x0 + 1, y0)
                + (1 - fx) * fy * at(cov, n, x0, y0 + 1) + fx * fy * at(cov, n, x0 + 1, y0 + 1);
    }

    private static double at(float[] cov, int n, int x, int y) {
        return x < 0 || y < 0 || x >= n || y >= n ? 0 : cov[y * n + x];
    }

    /**
     * Area of the outline traced by the radial profile over the area of its convex hull. Both come
     * from the same sub-pixel edge points, so a convex outline scores 1 at any size, blur rounds a
     * concave one towards 1 only slowly, and the pixel grid does not count as concavity.
     */
    private static double solidity(double[] r) {
        double[][] pts = new double[r.length][];
        double area = 0;
        for (int j = 0; j < r.length; j++) {
            double a = 2 * Math.PI * j / r.length;
            pts[j] = new double[] {r[j] * Math.cos(a), r[j] * Math.sin(a)};
            area += r[j] * r[(j + 1) % r.length] * Math.sin(2 * Math.PI / r.length) / 2;
        }
        double hull = hullArea(pts);
        return hull > 0 ? area / hull : 1;
    }

    /** Area of the convex hull of {@code pts} (Andrew's monotone chain, then the shoelace formula). */
    private static double hullArea(double[][] pts) {
        double[][] sorted = pts.clone();
        Arrays.sort(sorted, (p, q) -> p[0] != q[0] ? Double.compare(p[0], q[0]) : Double.compare(p[1], q[1]));
        int m = sorted.length;
        double[][] hull = new double[2 * m][];
        int k = 0;
        for (int i = 0; i < m; i++) {
            while (k >= 2 && cross(hull[k - 2], hull[k - 1], sorted[i]) <= 0) k--;
            hull[k++] = sorted[i];
        }
        for (int i = m - 2, lower = k + 1; i >= 0; i--) {
            while (k >= lower && cross(hull[k - 2], hull[k - 1], sorted[i]) <= 0) k--;
            hull[k++] = sorted[i];
        }
        double area = 0;
        for (int i = 0; i < k - 1; i++) area += hull[i][0] * hull[i + 1][1] - hull[i + 1][0] * hull[i][1];
        return Math.abs(area) / 2;
    }

    private static double cross(double[] o, double[] a, double[] b) {
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    }

    @Override
    public String toString() {
        return String.format("area %.0f, centre (%.2f, %.2f), extent %.2f, k2..k5 %.3f %.3f %.3f %.3f, axial4 %+.3f, solidity %.2f",
                area, centreX, centreY, extent, harmonics[2], harmonics[3], harmonics[4], harmonics[5], axial4, solidity);
    }
}
