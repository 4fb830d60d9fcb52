package jdiffusion.nn;

import java.util.Map;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * A seeded random initialisation with PyTorch's default scales, for models made without a
 * checkpoint (tests, benchmarks, {@code create-random}). libtorch's constructors already draw
 * random weights, but from its process-wide generator; this redraws them from a private
 * {@link TorchGenerator}, so the same seed gives the same model whatever ran before.
 *
 * <p>Per tensor, in registration order: norm weights 1 and biases 0 (GroupNorm/LayerNorm);
 * every other weight and its bias uniform in ±1/sqrt(fan_in), fan_in = in_features or
 * in_channels x kernel area (the bound of {@code nn.Linear}/{@code nn.Conv2d}'s
 * kaiming_uniform(a=sqrt(5)) default). Not Python-identical: the draws differ from torch's.
 */
public final class RandomInit {
    private RandomInit() {}

    public static void initialize(Module module, long seed) {
        TorchGenerator generator = new TorchGenerator(seed);
        Map<String, Tensor> tensors = ModuleTensors.namedTensors(module);
        try (NoGradGuard noGrad = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                try (PointerScope scope = new PointerScope()) {
                    String name = e.getKey();
                    Tensor t = e.getValue();
                    String owner = name.substring(0, name.lastIndexOf('.'));
                    boolean bias = name.endsWith(".bias");
                    if (isNorm(owner)) {
                        t.fill_(new Scalar(bias ? 0.0 : 1.0));
                        continue;
                    }
                    Tensor weight = bias ? tensors.get(owner + ".weight") : t;
                    long fanIn = weight.numel() / weight.size(0); // [out, in, kh, kw] or [out, in]
                    double bound = 1.0 / Math.sqrt(fanIn);
                    // uniform in [-bound, bound): (2u - 1) * bound, drawn in float32 on the CPU
                    Tensor u = generator.rand(t.sizes().vec().get());
                    t.copy_(u.mul(new Scalar(2.0)).sub(new Scalar(1.0)).mul(new Scalar(bound)));
                }
            }
        }
    }

    /**
     * GroupNorm/LayerNorm modules, by diffusers' and transformers' attribute names (norm1,
     * group_norm, conv_norm_out; CLIP's layer_norm1, final_layer_norm).
     */
    private static boolean isNorm(String owner) {
        String last = owner.substring(owner.lastIndexOf('.') + 1);
        return last.startsWith("norm") || last.endsWith("_norm") || last.equals("conv_norm_out")
                || last.startsWith("layer_norm");
    }
}
