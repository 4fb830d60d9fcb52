package jdiffusion.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Supplier;
import jdiffusion.Golden;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.nn.JavaModule;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The real SD architectures, built from their published configs with random weights. */
class RandomModelsTest {
    /** Builds (default init, no redraw), counts, closes: one full-size model alive at a time. */
    private static long countParameters(Supplier<JavaModule> build) {
        JavaModule model = build.get();
        try (PointerScope scope = new PointerScope()) { // releases the tensor handles, then close() frees the weights
            long n = 0;
            for (Tensor t : ModuleTensors.namedTensors(model).values()) n += t.numel();
            return n;
        } finally {
            model.close();
        }
    }

    @Test
    void parameterCountsOfTheRealModels() throws IOException {
        long sd15 = countParameters(() -> new UNet2DConditionModel(UNet2DConditionConfig.stableDiffusion15()));
        System.out.printf("SD 1.5 UNet: %,d parameters; VmRSS after close %.0f MB%n", sd15, status("VmRSS:") / 1048576.0);
        assertEquals(859_520_964L, sd15);
        long sd21 = countParameters(() -> new UNet2DConditionModel(UNet2DConditionConfig.stableDiffusion21()));
        System.out.printf("SD 2.1 UNet: %,d parameters%n", sd21);
        assertEquals(865_910_724L, sd21); // SD 1.5 + cross-attention k/v widened from 768 to 1024
        long inpaint = countParameters(() -> new UNet2DConditionModel(UNet2DConditionConfig.stableDiffusion2Inpainting()));
        System.out.printf("SD 2 inpainting UNet: %,d parameters%n", inpaint);
        assertEquals(865_910_724L + 320 * 5 * 9, inpaint); // conv_in takes 9 channels instead of 4
        long vae = countParameters(() -> new AutoencoderKL(AutoencoderKLConfig.stableDiffusion()));
        System.out.printf("SD VAE: %,d parameters; peak VmHWM %.0f MB%n", vae, status("VmHWM:") / 1048576.0);
        assertEquals(83_653_863L, vae);
    }

    @Test
    void sameSeedSameWeights() {
        UNet2DConditionConfig tiny = UNet2DConditionConfig.fromJson(Golden.model("unet-sd2").resolve("config.json"));
        Map<String, Tensor> a = ModuleTensors.namedTensors(UNet2DConditionModel.createRandom(tiny, 1, ScalarType.Float, Tensors.CPU));
        Map<String, Tensor> b = ModuleTensors.namedTensors(UNet2DConditionModel.createRandom(tiny, 1, ScalarType.Float, Tensors.CPU));
        Map<String, Tensor> c = ModuleTensors.namedTensors(UNet2DConditionModel.createRandom(tiny, 2, ScalarType.Float, Tensors.CPU));
        for (String key : a.keySet()) assertEquals(0.0, Tensors.maxAbsDiff(a.get(key), b.get(key)), key);
        assertTrue(Tensors.maxAbsDiff(a.get("conv_in.weight"), c.get("conv_in.weight")) > 0);
        assertEquals(1.0, Tensors.maxAbs(a.get("mid_block.resnets.0.norm1.weight")));
        double bound = 1 / Math.sqrt(4 * 9); // conv_in: fan_in = 4 channels x 3x3
        assertTrue(Tensors.maxAbs(a.get("conv_in.weight")) <= bound);
    }

    /**
     * One 512x512 SD 1.5 denoising step (CFG batch 2, 64x64 latents) in float32 on random weights:
     * the full-size graph runs, gives a finite output of the latents' shape that depends on the
     * input (the two CFG halves get different noise, so their outputs differ), is deterministic
     * (a second forward gives the same output), and stays within the memory the README promises
     * for fp32 generation at 512 (peak under 6.5 GB, weights included). Prints time and memory.
     */
    @Test
    @Tag("slow")
    void fullSizeUNetForward() throws IOException {
        UNet2DConditionModel unet = UNet2DConditionModel.createRandom(UNet2DConditionConfig.stableDiffusion15(), 0,
                ScalarType.Float, Tensors.CPU);
        System.out.printf("built: VmRSS %.0f MB%n", status("VmRSS:") / 1048576.0);
        TorchGenerator g = new TorchGenerator(0);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor sample = g.randn(2, 4, 64, 64), context = g.randn(2, 77, 768);
            Tensor[] outs = new Tensor[2];
            for (int i = 0; i < 2; i++) {
                long start = System.nanoTime();
                outs[i] = unet.forward(sample, Tensors.fromLongs(new long[] {999}).reshape(), context);
                System.out.printf("forward %d: %.1f s, output %s; VmRSS %.0f MB, peak VmHWM %.0f MB%n", i,
                        (System.nanoTime() - start) / 1e9, Tensors.shapeString(outs[i]),
                        status("VmRSS:") / 1048576.0, status("VmHWM:") / 1048576.0);
            }
            assertArrayEquals(new long[] {2, 4, 64, 64}, Tensors.shape(outs[0]));
            assertTrue(torch.isfinite(outs[0]).all().item_bool(), "the output is finite");
            double scale = Tensors.maxAbs(outs[0]);
            assertTrue(scale > 0, "the output is not all zeros");
            assertTrue(Tensors.maxAbsDiff(outs[0].narrow(0, 0, 1), outs[0].narrow(0, 1, 1)) > 1e-3 * scale,
                    "different inputs give different outputs");
            assertEquals(0.0, Tensors.maxAbsDiff(outs[0], outs[1]), "the same input gives the same output");
            assertTrue(status("VmHWM:") < 6.5 * (1L << 30), "peak memory " + status("VmHWM:") / 1048576 + " MB");
        } finally {
            unet.close();
        }
    }

    private static long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field)) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        }
        throw new IllegalStateException("no " + field + " in /proc/self/status");
    }
}
