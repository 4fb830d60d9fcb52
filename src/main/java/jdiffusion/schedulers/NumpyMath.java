package jdiffusion.schedulers;

import java.util.Arrays;

/**
 * The arithmetic the schedulers share, NumPy-compatible: schedules are numpy float64 (Java double),
 * per-step scalars are 0-dim float32 tensors in diffusers (Java float; +, -, *, / and sqrt are
 * IEEE-exact in both), so results agree to float32 rounding.
 */
final class NumpyMath {
    private NumpyMath() {}

    /** np.linspace(start, stop, num): {@code i * step + start}, the last value exactly {@code stop}. */
    static double[] linspace(double start, double stop, int num) {
        double[] y = new double[num];
        int div = num - 1;
        double delta = stop - start;
        double step = div > 0 ? delta / div : Double.NaN;
        for (int i = 0; i < num; i++) {
            if (div <= 0) y[i] = i * delta + start;
            else if (step == 0) y[i] = (double) i / div * delta + start;
            else y[i] = i * step + start;
        }
        if (num > 1) y[num - 1] = stop;
        return y;
    }

    /**
     * np.arange(start, stop, step) for floats: length ceil((stop - start) / step), values
     * {@code start + i * ((start + step) - start)} (numpy's fill re-derives the step from the first two).
     */
    static double[] arange(double start, double stop, double step) {
        double len = Math.ceil((stop - start) / step);
        int n = len > 0 ? (int) len : 0;
        double[] y = new double[n];
        if (n == 0) return y;
        y[0] = start;
        if (n == 1) return y;
        y[1] = start + step;
        double delta = y[1] - start;
        for (int i = 2; i < n; i++) y[i] = start + i * delta;
        return y;
    }

    /** np.interp(x, arange(len(fp)), fp) with float32 fp, evaluated in float64. */
    static double interp(double x, float[] fp) {
        int last = fp.length - 1;
        if (Double.isNaN(x)) return x;
        if (x <= 0) return fp[0];
        if (x >= last) return fp[last];
        int j = (int) Math.floor(x);
        if (j == x) return fp[j];
        double slope = ((double) fp[j + 1] - fp[j]) / 1.0;
        return slope * (x - j) + fp[j];
    }

    static double[] reversed(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) r[i] = a[a.length - 1 - i];
        return r;
    }

    static double[] round(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) r[i] = Math.rint(a[i]);   // np.round: half to even
        return r;
    }

    static double[] toFloat32(double[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) r[i] = (float) a[i];
        return r;
    }

    static float sqrt(float x) {
        return (float) Math.sqrt(x);
    }

    static float log(float x) {
        return (float) Math.log(x);
    }

    static float exp(float x) {
        return (float) Math.exp(x);
    }

    static float expm1(float x) {
        return (float) Math.expm1(x);
    }

    /** DPM/UniPC {@code _sigma_to_alpha_sigma_t}: alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t. */
    static float alphaOf(float sigma) {
        return 1f / sqrt(sigma * sigma + 1f);
    }

    /** lambda = log(alpha_t) - log(sigma_t), the half log-SNR of DPM-Solver; +inf at sigma 0. */
    static float lambdaOf(float sigma) {
        float alpha = alphaOf(sigma);
        return log(alpha) - log(sigma * alpha);
    }

    /**
     * The Lagrange multistep coefficient of LMS: the integral over [sigmas[t], sigmas[t+1]] of the basis
     * polynomial for {@code current} among the last {@code order} sigmas. diffusers integrates it with
     * scipy quad; the integrand is a polynomial of degree <= 3, so 3-point Gauss-Legendre is exact.
     */
    static double lmsCoefficient(float[] sigmas, int order, int t, int current) {
        double a = sigmas[t];
        double b = sigmas[t + 1];
        double[] nodes = {-Math.sqrt(0.6), 0, Math.sqrt(0.6)};
        double[] weights = {5.0 / 9, 8.0 / 9, 5.0 / 9};
        double sum = 0;
        for (int q = 0; q < 3; q++) {
            double tau = (b - a) / 2 * nodes[q] + (a + b) / 2;
            double prod = 1;
            for (int k = 0; k < order; k++) {
                if (k == current) continue;
                prod *= (tau - sigmas[t - k]) / ((double) sigmas[t - current] - sigmas[t - k]);
            }
            sum += weights[q] * prod;
        }
        return sum * (b - a) / 2;
    }

    /** Solves {@code a x = b} (tiny systems of UniPC) by Gaussian elimination with partial pivoting. */
    static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        double[][] m = new double[n][];
        for (int i = 0; i < n; i++) m[i] = Arrays.copyOf(a[i], n);
        double[] x = b.clone();
        for (int col = 0; col < n; col++) {
            int pivot = col;
            for (int r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
            double[] tmp = m[col]; m[col] = m[pivot]; m[pivot] = tmp;
            double tb = x[col]; x[col] = x[pivot]; x[pivot] = tb;
            for (int r = col + 1; r < n; r++) {
                double f = m[r][col] / m[col][col];
                for (int c = col; c < n; c++) m[r][c] -= f * m[col][c];
                x[r] -= f * x[col];
            }
        }
        for (int r = n - 1; r >= 0; r--) {
            double acc = x[r];
            for (int c = r + 1; c < n; c++) acc -= m[r][c] * x[c];
            x[r] = acc / m[r][r];
        }
        return x;
    }
}
