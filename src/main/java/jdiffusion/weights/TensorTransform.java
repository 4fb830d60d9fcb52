package jdiffusion.weights;

import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * How one tensor of a converted checkpoint is computed from tensors of the original: the only
 * reshapes, splits and concatenations the layout conversions do (see {@link LdmKeyMap}). Shapes
 * are checked from headers before any data is read; {@link #apply} returns a view of the source
 * where one exists (renames, 1x1 squeezes, row splits) and copies only to concatenate.
 */
public sealed interface TensorTransform {
    /** The source names this tensor is made of, in order. */
    List<String> sources();

    /** The result's shape from the sources' shapes; throws a clear error when they do not fit. */
    long[] shape(Function<String, long[]> sourceShapes);

    /** The result from the sources' tensors. */
    Tensor apply(Function<String, Tensor> sourceTensors);

    /** The tensor as it is, under another name. */
    record Same(String source) implements TensorTransform {
        @Override
        public List<String> sources() {
            return List.of(source);
        }

        @Override
        public long[] shape(Function<String, long[]> sourceShapes) {
            return sourceShapes.apply(source);
        }

        @Override
        public Tensor apply(Function<String, Tensor> sourceTensors) {
            return sourceTensors.apply(source);
        }
    }

    /**
     * A 1x1 convolution weight [O, I, 1, 1] read as the Linear weight [O, I] it equals: the LDM VAE
     * mid-block attention uses convolutions where diffusers uses Linear layers. A view.
     */
    record SqueezeConv1x1(String source) implements TensorTransform {
        @Override
        public List<String> sources() {
            return List.of(source);
        }

        @Override
        public long[] shape(Function<String, long[]> sourceShapes) {
            long[] s = sourceShapes.apply(source);
            if (s.length == 2) return s; // already Linear-shaped (some conversions saved it so)
            if (s.length != 4 || s[2] != 1 || s[3] != 1) {
                throw new JDiffusionException("'" + source + "' should be a 1x1 convolution weight [out, in, 1, 1], but has shape "
                        + Tensors.shapeString(s));
            }
            return new long[] {s[0], s[1]};
        }

        @Override
        public Tensor apply(Function<String, Tensor> sourceTensors) {
            Tensor t = sourceTensors.apply(source);
            return t.dim() == 2 ? t : t.reshape(t.size(0), t.size(1)); // [O, I, 1, 1] -> [O, I]
        }
    }

    /** The inverse: a Linear weight [O, I] as a 1x1 convolution weight [O, I, 1, 1]. A view. */
    record UnsqueezeConv1x1(String source) implements TensorTransform {
        @Override
        public List<String> sources() {
            return List.of(source);
        }

        @Override
        public long[] shape(Function<String, long[]> sourceShapes) {
            long[] s = sourceShapes.apply(source);
            if (s.length != 2) {
                throw new JDiffusionException("'" + source + "' should be a Linear weight [out, in], but has shape "
                        + Tensors.shapeString(s));
            }
            return new long[] {s[0], s[1], 1, 1};
        }

        @Override
        public Tensor apply(Function<String, Tensor> sourceTensors) {
            Tensor t = sourceTensors.apply(source);
            return t.reshape(t.size(0), t.size(1), 1, 1); // [O, I] -> [O, I, 1, 1]
        }
    }

    /**
     * Block {@code part} of {@code parts} equal blocks of rows: OpenCLIP's fused attention input
     * projection {@code in_proj_weight} [3C, C] holds q, k and v (in that order) as rows 0..C,
     * C..2C, 2C..3C. A view.
     */
    record Rows(String source, int part, int parts) implements TensorTransform {
        public Rows {
            if (parts < 1 || part < 0 || part >= parts) throw new IllegalArgumentException("part " + part + " of " + parts);
        }

        @Override
        public List<String> sources() {
            return List.of(source);
        }

        @Override
        public long[] shape(Function<String, long[]> sourceShapes) {
            long[] s = sourceShapes.apply(source).clone();
            if (s.length == 0 || s[0] % parts != 0) {
                throw new JDiffusionException("'" + source + "' of shape " + Tensors.shapeString(s)
                        + " cannot be split into " + parts + " equal blocks of rows");
            }
            s[0] /= parts;
            return s;
        }

        @Override
        public Tensor apply(Function<String, Tensor> sourceTensors) {
            Tensor t = sourceTensors.apply(source);
            long rows = t.size(0) / parts;
            return t.narrow(0, part * rows, rows); // [parts * R, ...] -> [R, ...]
        }
    }

    /** The sources stacked along their first axis (q, k, v into {@code in_proj_weight}). The one copy. */
    record ConcatRows(List<String> sources) implements TensorTransform {
        public ConcatRows {
            sources = List.copyOf(sources);
            if (sources.isEmpty()) throw new IllegalArgumentException("nothing to concatenate");
        }

        @Override
        public long[] shape(Function<String, long[]> sourceShapes) {
            long[] first = sourceShapes.apply(sources.getFirst()).clone();
            if (first.length == 0) throw new JDiffusionException("'" + sources.getFirst() + "' is a scalar; it has no rows");
            for (String s : sources.subList(1, sources.size())) {
                long[] other = sourceShapes.apply(s);
                if (other.length != first.length
                        || !Arrays.equals(other, 1, other.length, first, 1, first.length)) {
                    throw new JDiffusionException("cannot stack " + sources + ": '" + s + "' has shape "
                            + Tensors.shapeString(other) + ", '" + sources.getFirst() + "' has " + Tensors.shapeString(first));
                }
                first[0] += other[0];
            }
            return first;
        }

        @Override
        public Tensor apply(Function<String, Tensor> sourceTensors) {
            TensorVector parts = new TensorVector();
            for (String s : sources) parts.push_back(sourceTensors.apply(s));
            return torch.cat(parts, 0);
        }
    }
}
