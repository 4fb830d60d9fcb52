package jdiffusion.nn;

import java.util.function.Supplier;
import org.bytedeco.pytorch.Tensor;

/**
 * Sees every convolution, linear, attention product and normalisation that a forward runs, with
 * its FLOPs and output shape: the benchmark's FLOP counter and its time-per-kind breakdown.
 * Bound for the extent of one call with {@link #observe(OpObserver, Supplier)}; forwards outside
 * such a call pay one check per op. libtorch's profiler is not reachable through the Java
 * bindings, so the layers report themselves.
 */
@FunctionalInterface
public interface OpObserver {
    /**
     * Runs (or, to count only, replaces) one op.
     *
     * @param flops       2 x multiply-adds: conv 2*Cout*Cin/groups*k*k*Hout*Wout per sample, linear
     *                    2*in*out per token, attention 2*B*heads*Lq*Lk*d per matmul; 0 for norms
     * @param input       the op's input (the output has its dtype and device)
     * @param outputShape the shape {@code op} returns
     * @param op          computes the output
     */
    Tensor onOp(OpKind kind, long flops, Tensor input, long[] outputShape, Supplier<Tensor> op);

    /**
     * Runs {@code work} with {@code observer} seeing its ops (on this thread). A scoped value, not a
     * field: the binding ends with the call, and other threads' forwards are never observed.
     */
    static <T> T observe(OpObserver observer, Supplier<T> work) {
        return ScopedValue.where(Binding.CURRENT, observer).call(work::get);
    }

    /** Whether the current thread's forwards are observed. */
    static boolean active() {
        return Binding.CURRENT.isBound();
    }

    /** Hands one op to the bound observer, or just runs it. */
    static Tensor run(OpKind kind, long flops, Tensor input, long[] outputShape, Supplier<Tensor> op) {
        return Binding.CURRENT.isBound() ? Binding.CURRENT.get().onOp(kind, flops, input, outputShape, op) : op.get();
    }

    /** Holder of the scoped value (interfaces cannot have private fields). */
    final class Binding {
        private static final ScopedValue<OpObserver> CURRENT = ScopedValue.newInstance();

        private Binding() {}
    }
}
