package jdiffusion.models.unet;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** Native memory stays flat when every forward runs in its own PointerScope. */
class UNetMemoryTest {
    private static final long MARGIN = 32L << 20; // allocator and thread-pool slack, fixed

    @Test
    void fiftyForwardsInTheirOwnScopesKeepMemoryFlat() throws IOException {
        UNet2DConditionModel unet = UNet2DConditionModel.load(Golden.model("sd1-tiny-pipeline/unet"), ScalarType.Float, Tensors.CPU);
        try (Golden g = Golden.open("unet_sd1_t999"); PointerScope inputs = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor sample = g.tensor("sample"), timestep = g.tensor("timestep"), context = g.tensor("encoder_hidden_states");
            for (int i = 0; i < 5; i++) step(unet, sample, timestep, context); // warm caches and pools
            long rss0 = rssBytes(), physical0 = Pointer.physicalBytes(), tracked0 = Pointer.totalBytes();
            long heap0 = Runtime.getRuntime().totalMemory();
            long start = System.nanoTime();
            for (int i = 1; i <= 50; i++) {
                step(unet, sample, timestep, context);
                if (i % 10 == 0) System.out.printf("after %2d forwards: VmRSS %6.1f MB, physicalBytes %6.1f MB%n",
                        i, rssBytes() / 1048576.0, Pointer.physicalBytes() / 1048576.0);
            }
            System.out.printf("%.1f ms per forward%n", (System.nanoTime() - start) / 50e6);
            long rss1 = rssBytes(), physical1 = Pointer.physicalBytes(), tracked1 = Pointer.totalBytes();
            long heap1 = Runtime.getRuntime().totalMemory();
            // RSS includes the Java heap, which grows with the Pointer objects each forward leaves
            // to the collector; printed so a native leak can be told from heap growth.
            System.out.printf("VmRSS %.1f -> %.1f MB, physicalBytes %.1f -> %.1f MB, JavaCPP totalBytes %d -> %d, "
                            + "Java heap committed %.1f -> %.1f MB%n",
                    rss0 / 1048576.0, rss1 / 1048576.0, physical0 / 1048576.0, physical1 / 1048576.0, tracked0, tracked1,
                    heap0 / 1048576.0, heap1 / 1048576.0);
            assertTrue(rss1 - rss0 < MARGIN, "VmRSS grew by " + (rss1 - rss0) + " bytes over 50 forwards");
            assertTrue(physical1 - physical0 < MARGIN, "physicalBytes grew by " + (physical1 - physical0));
        }
    }

    private static void step(UNet2DConditionModel unet, Tensor sample, Tensor timestep, Tensor context) {
        try (PointerScope step = new PointerScope()) {
            unet.forward(sample, timestep, context);
        }
    }

    private static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void buildingInsideAPointerScopeIsRefused() {
        UNet2DConditionConfig config = UNet2DConditionConfig.fromJson(Golden.model("unet-sd2").resolve("config.json"));
        try (PointerScope scope = new PointerScope()) {
            String message = assertThrows(IllegalStateException.class, () -> new UNet2DConditionModel(config)).getMessage();
            assertTrue(message.contains("outside any PointerScope"), message);
        }
    }
}
