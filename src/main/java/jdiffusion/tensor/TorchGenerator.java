package jdiffusion.tensor;

import org.bytedeco.pytorch.Generator;
import org.bytedeco.pytorch.GeneratorOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A seeded CPU random generator equal to Python's {@code torch.Generator('cpu').manual_seed(seed)}:
 * the same seed and the same sequence of calls give the same numbers as diffusers on CPU (libtorch's
 * mt19937 and its Box-Muller blocks of 16). Draws are float32 on the CPU; move them afterwards.
 * Not thread-safe: one generator per run.
 */
public final class TorchGenerator {
    private final Generator generator;
    private final long seed;

    public TorchGenerator(long seed) {
        this.seed = seed;
        this.generator = torch.createCPUGenerator(seed);
    }

    public long seed() {
        return seed;
    }

    /** {@code torch.randn(shape, generator=g)}. */
    public Tensor randn(long... shape) {
        return torch.randn(shape, new GeneratorOptional(generator), new TensorOptions(ScalarType.Float));
    }

    /** {@code torch.rand(shape, generator=g)}: uniform in [0, 1). */
    public Tensor rand(long... shape) {
        return torch.rand(shape, new GeneratorOptional(generator), new TensorOptions(ScalarType.Float));
    }

    /** {@code torch.randint(low, high, shape, generator=g)} as int64. */
    public Tensor randint(long low, long high, long... shape) {
        return torch.randint(low, high, shape, new GeneratorOptional(generator), new TensorOptions(ScalarType.Long));
    }
}
