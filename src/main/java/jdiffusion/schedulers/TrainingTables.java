package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.sqrt;
import static jdiffusion.schedulers.SchedulerTensors.perSample;
import static jdiffusion.schedulers.SchedulerTensors.values;

import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The noise tables every diffusers scheduler builds in its constructor: {@code betas} and
 * {@code alphas_cumprod}, float32, one per training timestep (the training sigmas derive from them).
 * Immutable: the arrays are copied in and out.
 */
public record TrainingTables(float[] betas, float[] alphasCumprod) {

    public TrainingTables {
        if (betas.length == 0 || betas.length != alphasCumprod.length) {
            throw new IllegalArgumentException("betas (" + betas.length + ") and alphas_cumprod ("
                    + alphasCumprod.length + ") must have one entry per training timestep");
        }
        betas = betas.clone();
        alphasCumprod = alphasCumprod.clone();
    }

    /**
     * The tables of {@code config}.
     *
     * @param zeroSnrEpsilon the sigma-based schedulers (Euler, Euler a, DPM, UniPC) set the last
     *     alphas_cumprod to 2^-24 with rescale_betas_zero_snr, so that sigma_max stays finite
     */
    static TrainingTables of(SchedulerConfig config, boolean zeroSnrEpsilon) {
        float[] betas = betasOf(config);
        float[] ac = cumprod(betas);
        if (zeroSnrEpsilon && config.rescaleBetasZeroSnr()) ac[ac.length - 1] = 0x1p-24f;
        return new TrainingTables(betas, ac);
    }

    @Override
    public float[] betas() {
        return betas.clone();
    }

    @Override
    public float[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    /** Number of training timesteps. */
    public int size() {
        return betas.length;
    }

    /** alphas_cumprod[t], with {@link #trainIndex}'s treatment of timesteps past the end. */
    float alphaAt(int t) {
        return alphasCumprod[trainIndex(t)];
    }

    /**
     * The alpha "before" timestep 0 of DDIM, PNDM, LCM and TCD: 1 with {@code set_alpha_to_one}, else
     * alphas_cumprod[0] (the SD configs).
     */
    float finalAlphaCumprod(boolean setAlphaToOne) {
        return setAlphaToOne ? 1f : alphasCumprod[0];
    }

    /** The training sigmas sqrt((1 - a) / a) in float32, indexed by training timestep (ascending). */
    float[] trainingSigmas() {
        float[] s = new float[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) s[i] = (float) Math.sqrt((1f - alphasCumprod[i]) / alphasCumprod[i]);
        return s;
    }

    /**
     * The alphas_cumprod index of timestep {@code t}. Timesteps past the last training timestep exist:
     * "leading" spacing with steps_offset 1 and as many steps as training timesteps starts at 1000, where
     * diffusers raises IndexError; like np.interp in the sigma schedulers, we take the last entry.
     */
    int trainIndex(double t) {
        int i = (int) t;
        if (i != t || i < 0) {
            throw new JDiffusionException("timestep " + t + " is not a training timestep (a whole number >= 0)");
        }
        return Math.min(i, alphasCumprod.length - 1);
    }

    /**
     * add_noise of the alpha-based schedulers (DDPM, DDIM, PNDM, LCM, TCD):
     * sqrt(a_t) * x0 + sqrt(1 - a_t) * noise, a_t = alphas_cumprod[t].
     */
    public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
        double[] ts = values(timesteps);
        float[] a = new float[ts.length];
        float[] b = new float[ts.length];
        for (int i = 0; i < ts.length; i++) {
            float ac = alphasCumprod[trainIndex(ts[i])];
            a[i] = sqrt(ac);
            b[i] = sqrt(1f - ac);
        }
        return perSample(a, original).mul(original).add(perSample(b, original).mul(noise));
    }

    /** get_velocity at the given training timesteps (the v-prediction training target). */
    public Tensor velocity(Tensor sample, Tensor noise, Tensor timesteps) {
        double[] ts = values(timesteps);
        int[] idx = new int[ts.length];
        for (int i = 0; i < ts.length; i++) idx[i] = trainIndex(ts[i]);
        return velocity(sample, noise, idx);
    }

    /** get_velocity: v = sqrt(a_t) * noise - sqrt(1 - a_t) * x0, a_t = alphas_cumprod[indices[i]]. */
    Tensor velocity(Tensor sample, Tensor noise, int[] indices) {
        float[] a = new float[indices.length];
        float[] b = new float[indices.length];
        for (int i = 0; i < indices.length; i++) {
            float ac = alphasCumprod[indices[i]];
            a[i] = sqrt(ac);
            b[i] = sqrt(1f - ac);
        }
        return perSample(a, sample).mul(noise).sub(perSample(b, sample).mul(sample));
    }

    // ---------------------------------------------------------------- construction (float32)

    /** {@code self.betas} of the diffusers constructors. */
    private static float[] betasOf(SchedulerConfig c) {
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
    private static float[] cumprod(float[] betas) {
        float[] out = new float[betas.length];
        double acc = 1;
        for (int i = 0; i < betas.length; i++) {
            acc *= 1f - betas[i];
            out[i] = (float) acc;
        }
        return out;
    }

    /** diffusers' {@code rescale_zero_terminal_snr} (arXiv 2305.08891, Algorithm 1), in float32. */
    private static float[] rescaleZeroTerminalSnr(float[] betas) {
        float[] sqrtBar = cumprod(betas);
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
}
