package jdiffusion.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Set;
import java.util.TreeSet;
import jdiffusion.io.DType;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/** Bit-level comparison of tensors and state dicts: a conversion must not change a single bit. */
final class TensorBytes {
    private TensorBytes() {}

    static byte[] of(Tensor t) {
        Tensor c = t.contiguous();
        long n = c.numel() * c.element_size();
        if (n == 0) return new byte[0];
        return MemorySegment.ofAddress(c.data_ptr().address()).reinterpret(n).toArray(ValueLayout.JAVA_BYTE);
    }

    /** Same names, dtypes, shapes and bytes; {@code what} names the pair in failures. */
    static void assertIdentical(StateDict expected, StateDict actual, String what) {
        assertEquals(new TreeSet<>(expected.keys()), new TreeSet<>(actual.keys()), what + ": tensor names differ");
        try (PointerScope scope = new PointerScope()) {
            for (String k : expected.keys()) {
                assertEquals(expected.dtype(k), actual.dtype(k), what + ": dtype of " + k);
                assertArrayEquals(expected.shape(k), actual.shape(k), what + ": shape of " + k);
                Tensor a = actual.view(k);
                assertArrayEquals(expected.shape(k), Tensors.shape(a), what + ": the tensor of " + k + " has another shape than its header");
                assertEquals(actual.dtype(k), DType.of(a.scalar_type()), what + ": the tensor of " + k + " has another dtype than its header");
                assertTrue(java.util.Arrays.equals(of(expected.view(k)), of(a)), what + ": " + k + " is not bit-identical");
            }
        }
    }

    static Set<String> sorted(Set<String> keys) {
        return new TreeSet<>(keys);
    }
}
