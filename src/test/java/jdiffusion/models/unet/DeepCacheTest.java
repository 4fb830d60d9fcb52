package jdiffusion.models.unet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.nn.OpKind;
import jdiffusion.nn.OpObserver;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DeepCache: which calls are full, what the shallow path computes, and that it computes less. */
class DeepCacheTest {

    private static Tensor[] inputs(UNet2DConditionModel unet, long seed) {
        torch.manual_seed(seed);
        UNet2DConditionConfig c = unet.config();
        return new Tensor[] {torch.randn(2, c.inChannels(), 16, 24), torch.full(new long[] {2}, new Scalar(400.0)),
                torch.randn(2, 7, c.crossAttentionDim().getFirst())};
    }

    /** The FLOPs of each of {@code calls} through one DeepCache of {@code interval}, fresh inputs per call. */
    private static List<Long> flopsPerCall(UNet2DConditionModel unet, int interval, int calls) {
        List<Long> flops = new ArrayList<>();
        try (DeepCache cache = new DeepCache(unet, interval)) {
            for (int i = 0; i < calls; i++) {
                try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
                    Tensor[] in = inputs(unet, i);
                    long[] sum = {0};
                    OpObserver count = (kind, f, input, shape, op) -> {
                        if (kind != OpKind.NORMALISATION) sum[0] += f;
                        return op.get();
                    };
                    OpObserver.observe(count, () -> cache.forward(in[0], in[1], in[2], null));
                    flops.add(sum[0]);
                }
            }
        }
        return flops;
    }

    @ParameterizedTest
    @ValueSource(strings = {"sd1-tiny-pipeline/unet", "sd2-tiny-pipeline/unet"})
    void aShallowCallOnTheFullCallsInputGivesTheFullCallsOutput(String model) {
        UNet2DConditionModel unet = UNet2DConditionModelTest.model(modelFolder(model), ScalarType.Float);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard();
             DeepCache cache = new DeepCache(unet, 2)) {
            Tensor[] in = inputs(unet, 1);
            Tensor plain = unet.forward(in[0], in[1], in[2]);
            // each call in a scope of its own, as the denoising loop runs its steps: the kept
            // features must outlive the scope of the call that made them
            try (PointerScope step = new PointerScope()) {
                Tensor full = cache.forward(in[0], in[1], in[2], null);
                // the full call is the plain forward, split before the last layer: the same ops in the same order
                assertTrue(torch.equal(plain, full), "full call differs from forward");
            }
            try (PointerScope step = new PointerScope()) {
                // the kept features are exactly what this input gives the last layer, so the shallow path
                // (conv_in again, the last layer, the output layers) must rebuild the same output
                Tensor shallow = cache.forward(in[0], in[1], in[2], null);
                assertTrue(torch.equal(plain, shallow), "shallow call on the same input differs");
            }
            // on another input it reuses the old deep features: not the plain forward of that input
            Tensor[] other = inputs(unet, 2);
            cache.forward(other[0], other[1], other[2], null); // 3rd call: full again (interval 2)
            Tensor reused = cache.forward(in[0], in[1], in[2], null); // 4th: shallow on other's features
            assertFalse(torch.equal(plain, reused), "the 4th call should reuse the 3rd call's features");
        }
    }

    @Test
    void everyIntervalThCallCountedFromTheFirstIsFullAndTheRestAreShallow() {
        UNet2DConditionModel unet = UNet2DConditionModelTest.model(modelFolder("sd1-tiny-pipeline/unet"), ScalarType.Float);
        List<Long> flops = flopsPerCall(unet, 3, 7);
        long full = flops.getFirst();
        long shallow = flops.get(1);
        for (int i = 0; i < flops.size(); i++) {
            assertEquals(i % 3 == 0 ? full : shallow, flops.get(i), "call " + i + ": " + flops);
        }
        // the shallow path skips every down, mid and up block but the last layer
        assertTrue(shallow < full / 3, "shallow " + shallow + " vs full " + full);
        // interval 1: every call full
        assertTrue(flopsPerCall(unet, 1, 3).stream().allMatch(f -> f == full));
    }

    @Test
    void intervalOneIsThePlainForward() {
        UNet2DConditionModel unet = UNet2DConditionModelTest.model(modelFolder("sd1-tiny-pipeline/unet"), ScalarType.Float);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard();
             DeepCache cache = new DeepCache(unet, 1)) {
            for (int i = 0; i < 3; i++) {
                Tensor[] in = inputs(unet, 10 + i);
                assertTrue(torch.equal(unet.forward(in[0], in[1], in[2]), cache.forward(in[0], in[1], in[2], null)));
            }
        }
    }

    @Test
    void aBatchOrSizeChangeWithinARunAndBadIntervalsAreRefused() {
        UNet2DConditionModel unet = UNet2DConditionModelTest.model(modelFolder("sd1-tiny-pipeline/unet"), ScalarType.Float);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard();
             DeepCache cache = new DeepCache(unet, 3)) {
            Tensor[] in = inputs(unet, 3);
            cache.forward(in[0], in[1], in[2], null);
            Tensor smaller = in[0].narrow(2, 0, 8);
            var e = assertThrows(JDiffusionException.class, () -> cache.forward(smaller, in[1], in[2], null));
            assertTrue(e.getMessage().contains("DeepCache"), e.getMessage());
        }
        for (int bad : new int[] {0, -3, DeepCache.MAX_INTERVAL + 1}) {
            var e = assertThrows(JDiffusionException.class, () -> new DeepCache(unet, bad));
            assertTrue(e.getMessage().startsWith("--deepcache must be"), e.getMessage());
        }
    }

    private static String modelFolder(String model) {
        return "models/" + model;
    }
}
