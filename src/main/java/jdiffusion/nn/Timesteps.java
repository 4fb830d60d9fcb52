package jdiffusion.nn;

import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/embeddings.py {@code Timesteps} / {@code get_timestep_embedding}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/embeddings.py):
 * the sinusoidal embedding of DDPM. No weights.
 *
 * <p>freq_i = exp(-ln(10000) * i / (half - downscale_freq_shift)), i < half = numChannels / 2;
 * emb = [sin(t * freq), cos(t * freq)], swapped to [cos, sin] when flip_sin_to_cos (SD uses that,
 * with shift 0). The timestep is cast to float32 first, so float schedulers' values (946.42108)
 * are used exactly. Always float32; the caller casts to its compute dtype.
 */
public final class Timesteps extends JavaModule {
    private static final double MAX_PERIOD = 10000;

    private final long numChannels;
    private final boolean flipSinToCos;
    private final double downscaleFreqShift;

    public Timesteps(long numChannels, boolean flipSinToCos, double downscaleFreqShift) {
        this.numChannels = numChannels;
        this.flipSinToCos = flipSinToCos;
        this.downscaleFreqShift = downscaleFreqShift;
    }

    /** timesteps [B] (any numeric dtype) -> [B, numChannels] float32 on the same device. */
    public Tensor forward(Tensor timesteps) {
        long half = numChannels / 2;
        // 1. frequencies, in float32 and in the order of operations diffusers uses
        Tensor exponent = torch.arange(new Scalar(0L), new Scalar(half), new TensorOptions(ScalarType.Float))
                .to(timesteps.device(), ScalarType.Float)
                .mul(new Scalar(-Math.log(MAX_PERIOD)))
                .div(new Scalar(half - downscaleFreqShift));
        Tensor freqs = exponent.exp();
        // 2. arguments: [B, 1] * [1, half] -> [B, half]
        Tensor args = timesteps.to(ScalarType.Float).unsqueeze(1).mul(freqs.unsqueeze(0));
        // 3. [sin, cos] or [cos, sin] along the channels
        Tensor emb = flipSinToCos
                ? Functional.cat(args.cos(), args.sin(), -1)
                : Functional.cat(args.sin(), args.cos(), -1);
        if (numChannels % 2 == 1) emb = Functional.padLastTwo(emb, 0, 1, 0, 0); // odd width: one zero column
        return emb;
    }
}
