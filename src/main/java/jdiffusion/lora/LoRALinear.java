package jdiffusion.lora;

import jdiffusion.nn.Layers;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The trainable half of PEFT's LoRA {@code Linear} (peft/tuners/lora/layer.py, {@code Linear.forward}):
 * {@code base(x) + scaling * B(A(x))} with {@code scaling = lora_alpha / r}, no dropout (diffusers'
 * train_dreambooth_lora.py sets none) and no bias on A or B.
 *
 * <p>dtypes as PEFT: under autocast the two products run in the autocast dtype like any linear;
 * without autocast an input of another dtype than the adapter (bf16 base weights trained in fp32
 * adapters) is cast to the adapter's dtype, and the sum is cast back to the base output's dtype.
 */
final class LoRALinear implements Layers.LinearAdapter {
    final Tensor down;     // A [r, in], float32 leaf requiring grad
    final Tensor up;       // B [out, r], float32 leaf requiring grad
    final double scaling;  // alpha / r

    LoRALinear(Tensor down, Tensor up, double scaling) {
        this.down = down;
        this.up = up;
        this.scaling = scaling;
    }

    @Override
    public Tensor forward(Tensor input, Tensor baseOutput) { // [..., in], [..., out] -> [..., out]
        ScalarType adapterType = Tensors.dtype(down);
        Tensor x = input;
        if (Tensors.dtype(x).value != adapterType.value && !torch.is_autocast_enabled(x.device().type())) {
            x = x.to(adapterType);
        }
        Tensor delta = torch.linear(torch.linear(x, down), up); // [..., r] -> [..., out]
        if (scaling != 1.0) delta = delta.mul(new Scalar(scaling));
        Tensor out = baseOutput.add(delta);
        ScalarType baseType = Tensors.dtype(baseOutput);
        return Tensors.dtype(out).value == baseType.value ? out : out.to(baseType);
    }
}
