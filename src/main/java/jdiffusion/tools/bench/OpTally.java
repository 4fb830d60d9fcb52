package jdiffusion.tools.bench;

import java.util.EnumMap;
import java.util.Map;
import java.util.function.Supplier;
import jdiffusion.nn.OpKind;
import jdiffusion.nn.OpObserver;
import org.bytedeco.pytorch.Tensor;

/**
 * An {@link OpObserver} that adds up FLOPs, calls and (when timing) seconds per kind of op. CPU
 * ops are synchronous, so the wall time around a call is the op's time. Counting only, it
 * returns zeros of the right shape instead of computing: the FLOPs of a full-size forward in a
 * second or two, from the model's own layers at the real input shape. Not thread-safe: one tally
 * per observed call.
 */
final class OpTally implements OpObserver {
    private final boolean compute;
    private final Map<OpKind, long[]> byKind = new EnumMap<>(OpKind.class); // {flops, calls, nanos}

    private OpTally(boolean compute) {
        this.compute = compute;
        for (OpKind k : OpKind.values()) byKind.put(k, new long[3]);
    }

    /** Runs every op and times it. */
    static OpTally timing() {
        return new OpTally(true);
    }

    /** Counts FLOPs without computing (outputs are zeros). */
    static OpTally countingOnly() {
        return new OpTally(false);
    }

    @Override
    public Tensor onOp(OpKind kind, long flops, Tensor input, long[] outputShape, Supplier<Tensor> op) {
        long[] slot = byKind.get(kind);
        slot[0] += flops;
        slot[1]++;
        if (!compute) {
            // zeros, not empty: uninitialised memory can hold NaNs or denormals that slow the ops in between
            return input.new_zeros(outputShape);
        }
        long start = System.nanoTime();
        Tensor out = op.get();
        slot[2] += System.nanoTime() - start;
        return out;
    }

    <T> T observe(Supplier<T> work) {
        return OpObserver.observe(this, work);
    }

    long flops(OpKind kind) {
        return byKind.get(kind)[0];
    }

    long calls(OpKind kind) {
        return byKind.get(kind)[1];
    }

    double seconds(OpKind kind) {
        return byKind.get(kind)[2] / 1e9;
    }

    long totalFlops() {
        long n = 0;
        for (long[] slot : byKind.values()) n += slot[0];
        return n;
    }

    double totalSeconds() {
        double s = 0;
        for (OpKind k : OpKind.values()) s += seconds(k);
        return s;
    }
}
