package jdiffusion.schedulers;

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
}
