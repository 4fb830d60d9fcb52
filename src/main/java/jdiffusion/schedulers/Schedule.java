package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.arange;
import static jdiffusion.schedulers.NumpyMath.linspace;
import static jdiffusion.schedulers.NumpyMath.reversed;
import static jdiffusion.schedulers.NumpyMath.round;
import static jdiffusion.schedulers.NumpyMath.sqrt;

import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.SchedulerConfig.TimestepSpacing;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * What diffusers' {@code set_timesteps(n)} leaves on a scheduler: the timesteps the UNet gets, and for
 * the sigma-based schedulers the sigmas (with the trailing final sigma). Immutable and shareable.
 *
 * <p>Timesteps are kept as doubles holding exactly the int64 or float32 values of the diffusers tensor;
 * {@link #integerTimesteps()} says which of the two dtypes it is.
 */
public final class Schedule {
    private final int numInferenceSteps;
    private final double[] timesteps;
    private final boolean integerTimesteps;
    private final float[] sigmas;   // null for DDPM/DDIM/PNDM
    private final float initNoiseSigma;

    Schedule(int numInferenceSteps, double[] timesteps, boolean integerTimesteps, float[] sigmas, float initNoiseSigma) {
        this.numInferenceSteps = numInferenceSteps;
        this.timesteps = timesteps.clone();
        this.integerTimesteps = integerTimesteps;
        this.sigmas = sigmas == null ? null : sigmas.clone();
        this.initNoiseSigma = initNoiseSigma;
        for (double t : this.timesteps) {
            // float timesteps are stored already rounded to float32; int ones must be whole
            assert integerTimesteps ? t == Math.rint(t) : t == (float) t;
        }
    }

    /** The {@code n} passed to {@code set_timesteps}; PNDM and Heun have more step calls than this. */
    public int numInferenceSteps() {
        return numInferenceSteps;
    }

    /** Number of {@code step()} calls a full run makes (= number of timesteps). */
    public int size() {
        return timesteps.length;
    }

    public double timestep(int i) {
        return timesteps[i];
    }

    public double[] timestepValues() {
        return timesteps.clone();
    }

    /** True when diffusers' timesteps tensor is int64 (DDPM, DDIM, PNDM, DPM++, UniPC), false for float32. */
    public boolean integerTimesteps() {
        return integerTimesteps;
    }

    /** The 1-D timesteps tensor exactly as diffusers has it (int64 or float32). */
    public Tensor timesteps() {
        return timesteps(0);
    }

    Tensor timesteps(int from) {
        int n = timesteps.length - from;
        if (integerTimesteps) {
            long[] v = new long[n];
            for (int i = 0; i < n; i++) v[i] = (long) timesteps[from + i];
            return Tensors.fromLongs(v, n);
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) timesteps[from + i];
        return Tensors.fromFloats(v, n);
    }

    /** Whether this scheduler has sigmas (Euler, Euler a, LMS, Heun, DPM++, UniPC). */
    public boolean hasSigmas() {
        return sigmas != null;
    }

    /** The float32 sigmas, one more than the timesteps (the final sigma, usually 0). */
    public float[] sigmas() {
        if (sigmas == null) throw new IllegalStateException("this scheduler has no sigmas");
        return sigmas.clone();
    }

    float sigma(int i) {
        return sigmas[i];
    }

    public float initNoiseSigma() {
        return initNoiseSigma;
    }

    /**
     * diffusers' {@code index_for_timestep}: the index of {@code t} in the timesteps, the SECOND one
     * when it occurs twice (Heun), so that a run started mid-schedule does not skip a sigma; -1 when
     * absent.
     */
    int indexForTimestep(double t) {
        int first = -1;
        for (int i = 0; i < timesteps.length; i++) {
            if (timesteps[i] == t) {
                if (first >= 0) return i;
                first = i;
            }
        }
        return first;
    }

    // ---------------------------------------------------------------- the two spacing families

    /** The spaced timesteps of {@code config} for {@code steps} steps, float64, before any rounding. */
    static double[] spacedTimesteps(SchedulerConfig config, int steps) {
        return spacedTimesteps(config.timestepSpacing(), config.numTrainTimesteps(), steps, config.stepsOffset());
    }

    /** {@code set_timesteps} of the alpha-spaced schedulers (DDPM, DDIM): the spaced timesteps as int64. */
    static Schedule alphaSpaced(SchedulerConfig config, int steps) {
        Scheduler.checkSteps(steps, config);
        return new Schedule(steps, NumpyMath.round(spacedTimesteps(config, steps)), true, null, 1f);
    }

    /**
     * {@code set_timesteps} of the consistency-distilled schedulers (LCM, TCD): {@code steps} evenly spaced
     * indices, floor(np.linspace(0, len, steps, endpoint=False)), into the descending distillation
     * schedule {@code (1..original_inference_steps) * k - 1}, k = num_train_timesteps // original steps
     * (TCD without original steps: every training timestep).
     */
    static Schedule distilled(SchedulerConfig config, int steps, String scheduler) {
        Scheduler.checkSteps(steps, config);
        Integer original = config.originalInferenceSteps();
        int n = config.numTrainTimesteps();
        int count = original != null ? original : n;
        if (steps > count) {
            throw new JDiffusionException(scheduler + ": the number of steps (" + steps + ") cannot exceed"
                    + (original != null ? " original_inference_steps (" : " num_train_timesteps (") + count + ")");
        }
        int k = original != null ? n / original : 1;
        double[] descending = new double[count];   // (count..1) * k - 1
        for (int i = 0; i < count; i++) descending[i] = (double) (count - i) * k - 1;
        double step = (double) count / steps;   // numpy: arange(steps) * (len / steps)
        double[] t = new double[steps];
        for (int i = 0; i < steps; i++) t[i] = descending[(int) Math.floor(i * step)];
        return new Schedule(steps, t, true, null, 1f);
    }

    /** The sigma-spaced schedulers (Euler, Euler a, Heun, LMS): np.interp of the training sigmas at each timestep. */
    static double[] interpolatedSigmas(double[] timesteps, float[] trainingSigmas) {
        double[] sigmas = new double[timesteps.length];
        for (int i = 0; i < sigmas.length; i++) sigmas[i] = NumpyMath.interp(timesteps[i], trainingSigmas);
        return sigmas;
    }

    /**
     * {@code use_karras_sigmas}: Karras sigmas from {@code max} down to {@code min}; their fractional
     * timesteps ({@code _sigma_to_t}, cast to float32) replace {@code timesteps} in place.
     */
    static double[] karras(double min, double max, float[] trainingSigmas, double[] timesteps) {
        int steps = timesteps.length;
        float[] logTrain = logs(trainingSigmas);
        double[] sigmas = karrasSigmas(min, max, steps);
        for (int i = 0; i < steps; i++) timesteps[i] = (float) sigmaToT(sigmas[i], logTrain);
        return sigmas;
    }

    /** A sigma schedule: float32 timesteps, the sigmas with {@code finalSigma} appended, init_noise_sigma. */
    static Schedule sigmaSpaced(int steps, double[] timesteps, double[] sigmas, float finalSigma, TimestepSpacing spacing) {
        float[] all = new float[sigmas.length + 1];
        for (int i = 0; i < sigmas.length; i++) all[i] = (float) sigmas[i];
        all[sigmas.length] = finalSigma;
        return new Schedule(steps, NumpyMath.toFloat32(timesteps), false, all, initNoiseSigma(all, spacing));
    }

    /** np.log of a float32 array: float32 results. */
    static float[] logs(float[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) out[i] = (float) Math.log(values[i]);
        return out;
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
}
