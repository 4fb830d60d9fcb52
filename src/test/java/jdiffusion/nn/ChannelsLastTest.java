package jdiffusion.nn;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdiffusion.Golden;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** bf16 models load channels-last, compute what the NCHW layout computes, and hand back plain tensors. */
class ChannelsLastTest {
    @Test
    void bf16UNetIsChannelsLastAndMatchesNchw() {
        UNet2DConditionModel unet = UNet2DConditionModel.load(Golden.model("sd1-tiny-pipeline/unet"), ScalarType.BFloat16, Tensors.CPU);
        UNet2DConditionModel fp32 = UNet2DConditionModel.load(Golden.model("sd1-tiny-pipeline/unet"), ScalarType.Float, Tensors.CPU);
        try (Golden g = Golden.open("unet_sd1_t999"); PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor w = WeightsOf.first4d(unet);
            assertTrue(w.is_contiguous(torch.MemoryFormat.ChannelsLast) && !w.is_contiguous(), "bf16 conv weights are channels-last");
            Tensor w32 = WeightsOf.first4d(fp32);
            assertTrue(w32.is_contiguous(), "fp32 stays NCHW");
            Tensor sample = g.tensor("sample"), t = g.tensor("timestep"), context = g.tensor("encoder_hidden_states");
            Tensor last = unet.forward(sample, t, context);
            assertTrue(last.is_contiguous(), "the caller gets a plain NCHW tensor");
            // the same bf16 weights laid out NCHW again
            try (PointerScope relayout = new PointerScope()) {
                TensorVector ps = unet.parameters(true);
                for (long i = 0; i < ps.size(); i++) if (ps.get(i).dim() == 4) ps.get(i).set_(ps.get(i).contiguous());
            }
            assertFalse(WeightsOf.first4d(unet).is_contiguous(torch.MemoryFormat.ChannelsLast) && !WeightsOf.first4d(unet).is_contiguous());
            Tensor plain = unet.forward(sample, t, context);
            double diff = Tensors.maxAbsDiff(last.to(ScalarType.Float), plain.to(ScalarType.Float));
            double scale = Tensors.maxAbs(plain.to(ScalarType.Float));
            System.out.printf("bf16 UNet, channels-last vs NCHW: max diff %.3g (output max %.3g)%n", diff, scale);
            // two bf16 computations of one network: each within BF16_NETWORK of the exact output
            assertTrue(diff <= 2 * jdiffusion.Tolerances.BF16_NETWORK * scale, "layouts differ by " + diff);
        } finally {
            unet.close();
            fp32.close();
        }
    }

    private static final class WeightsOf {
        static Tensor first4d(org.bytedeco.pytorch.Module m) {
            TensorVector ps = m.parameters(true);
            for (long i = 0; i < ps.size(); i++) if (ps.get(i).dim() == 4 && ps.get(i).size(1) > 1) return ps.get(i);
            throw new AssertionError("no 4-D parameter");
        }
    }
}
