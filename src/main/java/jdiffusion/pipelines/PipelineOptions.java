package jdiffusion.pipelines;

import jdiffusion.io.DType;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * How a pipeline is loaded: the compute dtype (weights are converted once, at load), the device,
 * and the weights variant to read ({@code fp16} picks {@code *.fp16.safetensors}; null the plain files).
 */
public record PipelineOptions(ScalarType dtype, Device device, String variant) {
    public PipelineOptions {
        if (dtype == null) dtype = ScalarType.Float;
        if (device == null) device = Tensors.CPU;
    }

    /** fp32 on the CPU, the plain weight files: diffusers' defaults and the exact path. */
    public static PipelineOptions defaults() {
        return new PipelineOptions(ScalarType.Float, Tensors.CPU, null);
    }

    /** From CLI spellings: dtype fp32/bf16/fp16, device cpu/cuda[:N]. */
    public static PipelineOptions of(String dtype, String device, String variant) {
        DType d = DType.parseFloat(dtype);
        Device dev = device == null || device.equals("cpu") ? Tensors.CPU : new Device(device);
        return new PipelineOptions(d.scalarType(), dev, variant);
    }
}
