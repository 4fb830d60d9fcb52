package jdiffusion.nn;

import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/attention.py {@code FeedForward} with activation_fn "geglu"
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/attention.py):
 * net = [GEGLU(dim, 4*dim), Dropout, Linear(4*dim, dim)].
 */
public final class FeedForward extends JavaModule {
    private final GEGLU geglu;     // net.0
    private final LinearImpl out;  // net.2: [dim, 4*dim]

    public FeedForward(long dim) {
        long inner = 4 * dim; // mult=4
        ModuleList net = register_module("net", new ModuleList());
        geglu = net.put(0, new GEGLU(dim, inner));
        out = net.put(2, Layers.linear(inner, dim, true)); // net.1 is Dropout: no weights
    }

    /** x [B, N, dim] -> [B, N, dim]. */
    public Tensor forward(Tensor x) {
        return out.forward(geglu.forward(x));
    }
}
