package jdiffusion.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** Inside the scope a float32 matmul runs in bf16; after it the thread is as it was. */
class CpuAutocastTest {
    @Test
    void castsInsideAndRestoresAfter() {
        assertFalse(torch.is_autocast_enabled(DeviceType.CPU));
        try (PointerScope scope = new PointerScope()) {
            Tensor a = Tensors.fromFloats(new float[] {1, 2, 3, 4}, 2, 2);
            try (CpuAutocast on = CpuAutocast.bf16()) {
                assertTrue(torch.is_autocast_enabled(DeviceType.CPU));
                assertEquals(ScalarType.BFloat16.value, a.matmul(a).scalar_type().value);
            }
            assertFalse(torch.is_autocast_enabled(DeviceType.CPU));
            assertEquals(ScalarType.Float.value, a.matmul(a).scalar_type().value);
        }
    }
}
