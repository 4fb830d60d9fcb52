package jdiffusion.tensor;

import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * CPU autocast to bfloat16 for the calling thread (autocast state is thread-local in libtorch), undone
 * on close: float32 weights, the forwards' matmuls and convolutions in bf16, as a model trained with
 * {@code --dtype bf16} saw them. Example: {@code try (CpuAutocast on = CpuAutocast.bf16()) { unet.forward(...); }}
 */
public final class CpuAutocast implements AutoCloseable {
    private final boolean wasEnabled;
    private final ScalarType wasDtype;

    private CpuAutocast() {
        wasEnabled = torch.is_autocast_enabled(DeviceType.CPU);
        wasDtype = torch.get_autocast_dtype(DeviceType.CPU);
        torch.set_autocast_dtype(DeviceType.CPU, ScalarType.BFloat16);
        torch.set_autocast_enabled(DeviceType.CPU, true);
    }

    /** Turns bf16 autocast on for this thread until {@link #close}. */
    public static CpuAutocast bf16() {
        return new CpuAutocast();
    }

    @Override
    public void close() {
        torch.set_autocast_enabled(DeviceType.CPU, wasEnabled);
        torch.set_autocast_dtype(DeviceType.CPU, wasDtype);
    }
}
