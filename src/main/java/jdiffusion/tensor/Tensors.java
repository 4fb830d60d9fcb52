package jdiffusion.tensor;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Small conversions between Java arrays and libtorch tensors. */
public final class Tensors {
    /**
     * Kept alive for good: a Pointer joins the PointerScope open when it is made, so a CPU device
     * made while this class initialises inside some caller's scope would be freed with that scope.
     */
    public static final Device CPU = forever(new Device("cpu"));

    private Tensors() {}

    private static <P extends org.bytedeco.javacpp.Pointer> P forever(P p) {
        p.retainReference();
        return p;
    }

    /** A new float32 CPU tensor holding a copy of {@code values}. */
    public static Tensor fromFloats(float[] values, long... shape) {
        try (FloatPointer p = new FloatPointer(values)) {
            return torch.from_blob(p, shape, new TensorOptions(ScalarType.Float)).clone();
        }
    }

    /** A new int64 CPU tensor holding a copy of {@code values}. */
    public static Tensor fromLongs(long[] values, long... shape) {
        try (LongPointer p = new LongPointer(values)) {
            return torch.from_blob(p, shape, new TensorOptions(ScalarType.Long)).clone();
        }
    }

    /** The elements of {@code t} as float32, in C order. */
    public static float[] toFloats(Tensor t) {
        Tensor c = t.detach().to(CPU, ScalarType.Float).contiguous();
        float[] out = new float[Math.toIntExact(c.numel())];
        new FloatPointer(c.data_ptr()).capacity(out.length).get(out);
        return out;
    }

    /** The elements of {@code t} as int64, in C order. */
    public static long[] toLongs(Tensor t) {
        Tensor c = t.detach().to(CPU, ScalarType.Long).contiguous();
        long[] out = new long[Math.toIntExact(c.numel())];
        new LongPointer(c.data_ptr()).capacity(out.length).get(out);
        return out;
    }

    /**
     * The tensor's dtype as the canonical enum constant. JavaCPP hands back enum objects whose
     * identity may differ from the constants, so compare dtypes through this (or {@code .value}).
     */
    public static ScalarType dtype(Tensor t) {
        return t.scalar_type().intern();
    }

    public static long[] shape(Tensor t) {
        return t.sizes().vec().get();
    }

    public static String shapeString(long[] shape) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) sb.append(", ");
            sb.append(shape[i]);
        }
        return sb.append(']').toString();
    }

    public static String shapeString(Tensor t) {
        return shapeString(shape(t));
    }

    /** max |a - b| computed in float64. */
    public static double maxAbsDiff(Tensor a, Tensor b) {
        return a.to(ScalarType.Double).sub(b.to(ScalarType.Double)).abs().max().item_double();
    }

    public static double maxAbs(Tensor a) {
        return a.numel() == 0 ? 0 : a.to(ScalarType.Double).abs().max().item_double();
    }
}
