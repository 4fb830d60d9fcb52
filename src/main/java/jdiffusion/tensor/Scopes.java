package jdiffusion.tensor;

import java.util.List;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
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

    /**
     * Applies {@code steps} in order, each in a scope of its own, keeping only the latest result
     * alive: a chain of blocks at full resolution (the VAE decoder's up blocks) then holds one
     * block's output at a time instead of all of them until the caller's scope closes. The result
     * joins the enclosing scope, as with {@link #keep}.
     */
    public static Tensor sequence(Tensor x, List<UnaryOperator<Tensor>> steps) {
        PointerScope outer = PointerScope.getInnerScope();
        if (outer == null) {
            for (UnaryOperator<Tensor> step : steps) x = step.apply(x);
            return x;
        }
        Tensor current = x;
        boolean ours = false; // the caller's input is not ours to release
        for (UnaryOperator<Tensor> step : steps) {
            Tensor next;
            try (PointerScope inner = new PointerScope()) {
                next = step.apply(current);
                next.retainReference(); // survives `inner`
            }
            if (ours) current.releaseReference(); // the previous result: nothing else holds it
            current = next;
            ours = true;
        }
        if (ours) {
            outer.attach(current);
            current.releaseReference(); // the caller's scope now holds the only reference
        }
        return current;
    }
}
