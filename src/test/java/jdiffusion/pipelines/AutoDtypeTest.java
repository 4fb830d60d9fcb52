package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;

import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** {@code --dtype auto}: bf16 where the CPU computes it natively, float32 elsewhere, fp16 on CUDA. */
class AutoDtypeTest {
    @Test
    void autoPicksPerCpuClassAndDevice() {
        assertEquals(ScalarType.BFloat16, PipelineOptions.autoDtype(Tensors.CPU, CpuClass.AMX_BF16));
        assertEquals(ScalarType.BFloat16, PipelineOptions.autoDtype(Tensors.CPU, CpuClass.AVX512_BF16));
        assertEquals(ScalarType.Float, PipelineOptions.autoDtype(Tensors.CPU, CpuClass.NO_NATIVE_BF16));
        try (Device cuda = new Device("cuda")) {
            assertEquals(ScalarType.Half, PipelineOptions.autoDtype(cuda, CpuClass.NO_NATIVE_BF16));
        }
        // the CLI spelling resolves on this machine's class
        assertEquals(PipelineOptions.autoDtype(Tensors.CPU, CpuClass.current()).value,
                PipelineOptions.of("auto", "cpu", null).dtype().value);
        assertEquals(ScalarType.Float.value, PipelineOptions.of("fp32", "cpu", null).dtype().value);
    }
}
