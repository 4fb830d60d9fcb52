package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.alphaOf;

import java.util.Arrays;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/** Tensor helpers of the schedulers: scalars, per-sample factors, sigma-based add_noise, held references. */
final class SchedulerTensors {
    private SchedulerTensors() {}

    static Scalar s(float v) {
        return new Scalar(v);
    }

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

    /**
     * The denoised x0 of the sigma-based schedulers (Euler, Euler a, Heun, LMS) from a model output at
     * noise level {@code sigma}: x - sigma * eps, or for v-prediction -sigma / sqrt(sigma^2 + 1) * v +
     * x / (sigma^2 + 1).
     */
    static Tensor sigmaX0(PredictionType type, Tensor modelOutput, Tensor sample, float sigma) {
        return switch (type) {
            case EPSILON -> sample.sub(modelOutput.mul(s(sigma)));
            case V_PREDICTION -> modelOutput.mul(s(-sigma / NumpyMath.sqrt(sigma * sigma + 1f))).add(sample.div(s(sigma * sigma + 1f)));
            case SAMPLE -> modelOutput;
        };
    }
}
