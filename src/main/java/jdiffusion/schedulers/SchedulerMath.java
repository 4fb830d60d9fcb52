package jdiffusion.schedulers;

import java.util.Arrays;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.SchedulerConfig.TimestepSpacing;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The arithmetic the scheduler files share (diffusers keeps it as "# Copied from" duplicates).
 *
 * <p>Dtypes follow the reference so results agree to float32 rounding: the training tables are
 * float32 torch tensors, schedules are numpy float64 (Java double), and per-step scalars are 0-dim
 * float32 tensors (Java float; +, -, *, / and sqrt are IEEE-exact in both).
 */
final class SchedulerMath {
    private SchedulerMath() {}

    // ---------------------------------------------------------------- training tables (float32)

    /** {@code self.betas} of the diffusers constructors. */
    static float[] betas(SchedulerConfig c) {
        int n = c.numTrainTimesteps();
        float[] betas;
        if (c.trainedBetas() != null) {
            List<Double> tb = c.trainedBetas();
            betas = new float[n];
            for (int i = 0; i < n; i++) betas[i] = tb.get(i).floatValue();
        } else {
            betas = switch (c.betaSchedule()) {
                // torch.linspace itself, because its float32 rounding depends on its vectorised loop
                case LINEAR -> torchLinspace(c.betaStart(), c.betaEnd(), n, false);
                // "this schedule is very specific to the latent diffusion model"
                case SCALED_LINEAR -> torchLinspace(Math.sqrt(c.betaStart()), Math.sqrt(c.betaEnd()), n, true);
                case SQUAREDCOS_CAP_V2 -> betasForAlphaBar(n);
            };
        }
        return c.rescaleBetasZeroSnr() ? rescaleZeroTerminalSnr(betas) : betas;
    }

    private static float[] torchLinspace(double start, double end, int n, boolean squared) {
        try (PointerScope ignored = new PointerScope()) {
            Tensor t = torch.linspace(new Scalar(start), new Scalar(end), n, new TensorOptions(ScalarType.Float));
            return Tensors.toFloats(squared ? t.pow(new Scalar(2)) : t);
        }
    }

    /** diffusers' {@code betas_for_alpha_bar} with the cosine transform, max_beta 0.999 (Glide). */
    private static float[] betasForAlphaBar(int n) {
        float[] betas = new float[n];
        for (int i = 0; i < n; i++) {
            double t1 = (double) i / n;
            double t2 = (double) (i + 1) / n;
            betas[i] = (float) Math.min(1 - alphaBar(t2) / alphaBar(t1), 0.999);
        }
        return betas;
    }

    private static double alphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** torch.cumprod(1 - betas): torch accumulates a float32 cumprod in double on the CPU. */
    static float[] alphasCumprod(float[] betas) {
        float[] out = new float[betas.length];
        double acc = 1;
        for (int i = 0; i < betas.length; i++) {
            acc *= 1f - betas[i];
            out[i] = (float) acc;
        }
        return out;
    }

    /** diffusers' {@code rescale_zero_terminal_snr} (arXiv 2305.08891, Algorithm 1), in float32. */
    static float[] rescaleZeroTerminalSnr(float[] betas) {
        float[] sqrtBar = alphasCumprod(betas);
        for (int i = 0; i < sqrtBar.length; i++) sqrtBar[i] = (float) Math.sqrt(sqrtBar[i]);
        float first = sqrtBar[0];
        float last = sqrtBar[sqrtBar.length - 1];
        float scale = first / (first - last);
        float[] bar = new float[sqrtBar.length];
        for (int i = 0; i < bar.length; i++) {
            float s = (sqrtBar[i] - last) * scale;
            bar[i] = s * s;
        }
        float[] out = new float[bar.length];
        out[0] = 1f - bar[0];
        for (int i = 1; i < bar.length; i++) out[i] = 1f - bar[i] / bar[i - 1];
        return out;
    }

    /** The training sigmas sqrt((1 - a) / a) in float32, indexed by training timestep (ascending). */
    static float[] trainingSigmas(float[] alphasCumprod) {
        float[] s = new float[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) s[i] = (float) Math.sqrt((1f - alphasCumprod[i]) / alphasCumprod[i]);
        return s;
    }

    /** np.log of a float32 array: float32 results. */
    static float[] logs(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) out[i] = (float) Math.log(values[i]);
        return out;
    }

    // ---------------------------------------------------------------- numpy (float64)

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

    /**
     * The timesteps of Table 2 of arXiv 2305.08891, as the discrete schedulers compute them (before any
     * dtype cast): "linspace" unrounded, "leading" with steps_offset, "trailing" minus one.
     */
    static double[] spacedTimesteps(TimestepSpacing spacing, int trainSteps, int steps, int stepsOffset) {
        return switch (spacing) {
            case LINSPACE -> reversed(linspace(0, trainSteps - 1, steps));
            case LEADING -> {
                int ratio = trainSteps / steps;   // integer timesteps: ratio * i
                double[] t = new double[steps];
                for (int i = 0; i < steps; i++) t[i] = (double) (steps - 1 - i) * ratio + stepsOffset;
                yield t;
            }
            case TRAILING -> {
                double[] t = round(arange(trainSteps, 0, -((double) trainSteps / steps)));
                for (int i = 0; i < t.length; i++) t[i] -= 1;
                yield t;
            }
        };
    }

    /** Karras et al. (2022) sigmas, rho = 7, from sigma_max down to sigma_min in {@code n} points. */
    static double[] karrasSigmas(double sigmaMin, double sigmaMax, int n) {
        double rho = 7.0;
        double[] ramp = linspace(0, 1, n);
        double minInvRho = Math.pow(sigmaMin, 1 / rho);
        double maxInvRho = Math.pow(sigmaMax, 1 / rho);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) s[i] = Math.pow(maxInvRho + ramp[i] * (minInvRho - maxInvRho), rho);
        return s;
    }

    /**
     * diffusers' {@code _sigma_to_t}: the fractional training timestep whose log-sigma matches, by
     * linear interpolation in log space. {@code logSigmas} is float32 (np.log of a float32 array), so
     * {@code low - high} is a float32 difference, as in numpy.
     */
    static double sigmaToT(double sigma, float[] logSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        // cumsum(dists >= 0).argmax(): the last index with log_sigmas[i] <= log_sigma, 0 if none
        int low = 0;
        for (int i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
        low = Math.min(low, logSigmas.length - 2);
        int high = low + 1;
        float lo = logSigmas[low];
        float hi = logSigmas[high];
        double w = (lo - logSigma) / (double) (lo - hi);
        w = Math.min(Math.max(w, 0), 1);
        return (1 - w) * low + w * high;
    }

    // ---------------------------------------------------------------- per-step scalars (float32)

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

    static Scalar s(float v) {
        return new Scalar(v);
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

    // ---------------------------------------------------------------- tensors

    /** The values of a timesteps tensor (int64 or float32), any shape, in order. */
    static double[] values(Tensor timesteps) {
        if (timesteps.is_floating_point()) {
            float[] f = Tensors.toFloats(timesteps);
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
        long[] l = Tensors.toLongs(timesteps);
        double[] d = new double[l.length];
        for (int i = 0; i < l.length; i++) d[i] = l[i];
        return d;
    }

    /** A [B, 1, 1, ...] float32 tensor on {@code like}'s device that broadcasts one value per sample. */
    static Tensor perSample(float[] values, Tensor like) {
        long[] shape = new long[Math.max((int) like.dim(), 1)];
        Arrays.fill(shape, 1);
        shape[0] = values.length;
        return Tensors.fromFloats(values, shape).to(like.device(), like.scalar_type());
    }

    /**
     * add_noise of DDPM/DDIM/PNDM: sqrt(a_t) * x0 + sqrt(1 - a_t) * noise, a_t = alphas_cumprod[t].
     */
    static Tensor alphaAddNoise(float[] alphasCumprod, Tensor original, Tensor noise, Tensor timesteps) {
        double[] ts = values(timesteps);
        float[] a = new float[ts.length];
        float[] b = new float[ts.length];
        for (int i = 0; i < ts.length; i++) {
            float ac = alphasCumprod[trainIndex(ts[i], alphasCumprod.length)];
            a[i] = sqrt(ac);
            b[i] = sqrt(1f - ac);
        }
        return perSample(a, original).mul(original).add(perSample(b, original).mul(noise));
    }

    /** get_velocity: v = sqrt(a_t) * noise - sqrt(1 - a_t) * x0 (the v-prediction training target). */
    static Tensor alphaVelocity(float[] alphasCumprod, Tensor sample, Tensor noise, int[] indices) {
        float[] a = new float[indices.length];
        float[] b = new float[indices.length];
        for (int i = 0; i < indices.length; i++) {
            float ac = alphasCumprod[indices[i]];
            a[i] = sqrt(ac);
            b[i] = sqrt(1f - ac);
        }
        return perSample(a, sample).mul(noise).sub(perSample(b, sample).mul(sample));
    }

    /**
     * The alphas_cumprod index of timestep {@code t}. Timesteps past the last training timestep exist:
     * "leading" spacing with steps_offset 1 and as many steps as training timesteps starts at 1000, where
     * diffusers raises IndexError; like np.interp in the sigma schedulers, we take the last entry.
     */
    static int trainIndex(double t, int trainSteps) {
        int i = (int) t;
        if (i != t || i < 0) {
            throw new JDiffusionException("timestep " + t + " is not a training timestep (a whole number >= 0)");
        }
        return Math.min(i, trainSteps - 1);
    }

    /** alphas_cumprod[t], with {@link #trainIndex}'s treatment of timesteps past the end. */
    static float alphaAt(float[] alphasCumprod, int t) {
        return alphasCumprod[trainIndex(t, alphasCumprod.length)];
    }

    // ---------------------------------------------------------------- sigma-based schedulers

    /** Rejects the sigma schedules of 0.31 that this port does not implement. */
    static void rejectUnsupportedSigmas(SchedulerConfig c, String scheduler) {
        if (c.useExponentialSigmas() || c.useBetaSigmas()) {
            throw new JDiffusionException(scheduler + ": use_exponential_sigmas and use_beta_sigmas are not supported;"
                    + " use use_karras_sigmas or the default schedule");
        }
    }

    /** The sigma appended after the last step: 0 ("zero") or the smallest training sigma ("sigma_min"). */
    static float finalSigma(SchedulerConfig c, TrainingTables tables) {
        return switch (c.finalSigmasType()) {
            case "zero" -> 0f;
            case "sigma_min" -> tables.trainingSigmas()[0];
            default -> throw new JDiffusionException("final_sigmas_type must be zero or sigma_min, got '"
                    + c.finalSigmasType() + "'");
        };
    }

    /**
     * init_noise_sigma of Euler, LMS and Heun: sigma_max for "linspace"/"trailing" spacing, but
     * sqrt(sigma_max^2 + 1) for "leading" (Pitfall 5).
     */
    static float initNoiseSigma(float[] sigmas, TimestepSpacing spacing) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : sigmas) max = Math.max(max, v);
        return spacing == TimestepSpacing.LEADING ? sqrt(max * max + 1f) : max;
    }

    /** add_noise of Euler, Euler a, LMS and Heun: x0 + noise * sigma. */
    static Tensor sigmaAddNoise(Schedule schedule, int[] indices, Tensor original, Tensor noise) {
        float[] sigma = new float[indices.length];
        for (int i = 0; i < indices.length; i++) sigma[i] = schedule.sigma(indices[i]);
        return original.add(noise.mul(perSample(sigma, original)));
    }

    /** add_noise of DPM-Solver and UniPC: alpha_t * x0 + sigma_t * noise (variance preserving). */
    static Tensor vpAddNoise(Schedule schedule, int[] indices, Tensor original, Tensor noise) {
        float[] alpha = new float[indices.length];
        float[] sigma = new float[indices.length];
        for (int i = 0; i < indices.length; i++) {
            float s = schedule.sigma(indices[i]);
            alpha[i] = alphaOf(s);
            sigma[i] = s * alpha[i];
        }
        return perSample(alpha, original).mul(original).add(perSample(sigma, original).mul(noise));
    }

    /**
     * A second handle on {@code t} that survives the caller's PointerScope: the scope releases its own
     * reference, ours stays until {@link #release}. Same storage, no copy (diffusers keeps references too).
     */
    static Tensor hold(Tensor t) {
        Tensor h = new Tensor(t);
        h.retainReference();
        return h;
    }

    static void release(Tensor held) {
        if (held != null) held.releaseReference();
    }
}
