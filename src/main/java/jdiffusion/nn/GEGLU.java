package jdiffusion.nn;

import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;

/**
 * diffusers models/activations.py {@code GEGLU}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/activations.py):
 * proj to twice the width, split into (value, gate) halves along the last axis, value * gelu(gate)
 * with the exact erf GELU.
 */
public final class GEGLU extends JavaModule {
    private final LinearImpl proj; // [2*dimOut, dimIn]

    public GEGLU(long dimIn, long dimOut) {
        proj = register_module("proj", Layers.linear(dimIn, dimOut * 2, true));
    }

    /** x [..., dimIn] -> [..., dimOut]. */
    public Tensor forward(Tensor x) {
        TensorVector halves = proj.forward(x).chunk(2, -1); // value first, gate second
        return halves.get(0).mul(Functional.gelu(halves.get(1)));
    }
}
