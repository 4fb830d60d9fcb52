package jdiffusion.tensor;

import java.util.function.Supplier;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * Frees a computation's temporaries as soon as it ends. Inside a {@link PointerScope} every tensor
 * handle lives until the scope closes, so one scope around a whole UNet forward keeps every
 * intermediate activation alive at once (~5 GB for SD 1.5 at 512x512). Network blocks run their
 * bodies through {@link #keep}: temporaries go when the block returns, the result joins the
 * caller's scope, as Python's reference counting would have it.
 */
public final class Scopes {
    private Scopes() {}

    /**
     * Runs {@code work} in a scope of its own and hands its result to the enclosing scope. Without
     * an enclosing scope (the caller relies on the garbage collector) it just runs {@code work}.
     */
    public static Tensor keep(Supplier<Tensor> work) {
        PointerScope outer = PointerScope.getInnerScope();
        if (outer == null) return work.get();
        try (PointerScope inner = new PointerScope()) {
            Tensor result = work.get();
            outer.attach(result); // one reference for the caller's scope, taken before `inner` drops its own
            return result;
        }
    }
}
