package jdiffusion.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tools.bench.RandomModel;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.LoRAKeyMap;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.LoRAKeyMap.Target;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LCM-LoRA-shaped files ({@code latent-consistency/lcm-lora-sdv1-5}): every weight the LCM
 * distillation script's PEFT config targets - attention q/k/v/out, proj_in/proj_out, the
 * feed-forward's {@code ff.net.0.proj} and {@code ff.net.2}, every resnet's conv1/conv2/conv_shortcut
 * and time_emb_proj, the down- and upsamplers' conv - must be placed, each to its own weight, in
 * kohya's and in PEFT's layout, and an entry the loader cannot place must fail the whole file.
 *
 * <p>The target list is diffusers' {@code examples/consistency_distillation/train_lcm_distill_lora_sd_wds.py}
 * ({@code lora_target_modules}); PEFT matches a module when its name ends with {@code .<target>}.
 */
class LCMLoRATest {
    /** The module-name endings LCM-LoRA's PEFT config lists. */
    static final List<String> LCM_TARGETS = List.of("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out",
            "ff.net.0.proj", "ff.net.2", "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv",
            "time_emb_proj");

    @TempDir
    Path dir;

    /** The weights of {@code shapes} an LCM-LoRA updates, module path (without ".weight") to weight shape. */
    static Map<String, long[]> lcmTargets(Map<String, long[]> shapes) {
        Map<String, long[]> out = new LinkedHashMap<>();
        shapes.forEach((name, shape) -> {
            if (!name.endsWith(".weight")) return;
            String module = name.substring(0, name.length() - ".weight".length());
            if (LCM_TARGETS.stream().anyMatch(t -> module.endsWith("." + t))) out.put(module, shape);
        });
        return out;
    }

    /** A random low-rank pair for each target: Linear [r, in]/[out, r]; conv [r, in, kh, kw]/[out, r, 1, 1] (PEFT's LoRA Conv2d). */
    static List<TestLoRA> lcmLoRA(Map<String, long[]> targets, long rank, double alpha) {
        List<TestLoRA> modules = new ArrayList<>();
        long seed = 100;
        for (Map.Entry<String, long[]> e : targets.entrySet()) {
            long[] w = e.getValue();
            long[] down = w.length == 2 ? new long[] {rank, w[1]} : new long[] {rank, w[1], w[2], w[3]};
            long[] up = w.length == 2 ? new long[] {w[0], rank} : new long[] {w[0], rank, 1, 1};
            modules.add(TestLoRA.random(Component.UNET, e.getKey(), seed++, down, up, alpha));
        }
        return modules;
    }

    private static Map<String, long[]> shapes(Map<String, Tensor> named) {
        Map<String, long[]> out = new LinkedHashMap<>();
        named.forEach((k, v) -> out.put(k, Tensors.shape(v)));
        return out;
    }

    private static LoRAWeights read(Path file, Map<String, long[]> unetShapes) {
        LoRAKeyMap.Index index = new LoRAKeyMap.Index(unetShapes.keySet(), List.of());
        return LoRAWeights.read(file, index, Map.of(Component.UNET, unetShapes, Component.TEXT_ENCODER, Map.of()));
    }

    /** Every kind of layer the issue names is among the targets of this UNet (so the test covers it). */
    private static void assertEveryKindIsPresent(Map<String, long[]> targets) {
        for (String t : LCM_TARGETS) {
            assertTrue(targets.keySet().stream().anyMatch(m -> m.endsWith("." + t)), "the UNet has no " + t + " to test");
        }
        assertTrue(targets.values().stream().anyMatch(s -> s.length == 4 && s[2] == 3), "a 3x3 conv among the targets");
        assertTrue(targets.values().stream().anyMatch(s -> s.length == 4 && s[2] == 1), "a 1x1 conv among the targets");
    }

    /** Reads the file and checks that it maps one-to-one onto the targets. */
    private static void assertPlacesEveryEntry(LoRAWeights w, Map<String, long[]> targets, String layout) {
        Set<String> placed = w.modules().stream().map(m -> m.target().weight()).collect(Collectors.toCollection(TreeSet::new));
        Set<String> wanted = targets.keySet().stream().map(m -> m + ".weight").collect(Collectors.toCollection(TreeSet::new));
        assertEquals(wanted, placed, layout + ": the weights the LoRA updates");
        assertEquals(targets.size(), w.modules().size(), layout + ": one module per target");
        System.out.printf("%s: %d LCM-LoRA modules placed%n", layout, w.modules().size());
    }

    @Test
    void tinyUNetEveryLcmTargetIsMergedIntoItsOwnWeightInBothLayouts() {
        UNet2DConditionModel unet = new UNet2DConditionModel(RandomModel.TINY.unet()); // built outside any scope
        try {
            Map<String, long[]> shapes;
            try (PointerScope s = new PointerScope()) {
                shapes = shapes(ModuleTensors.namedTensors(unet));
            }
            Map<String, long[]> targets = lcmTargets(shapes);
            assertEveryKindIsPresent(targets);
            List<TestLoRA> lora = lcmLoRA(targets, 4, 8.0);
            for (TestLoRA.Layout layout : List.of(TestLoRA.Layout.KOHYA, TestLoRA.Layout.PEFT)) {
                Path f = TestLoRA.write(dir.resolve(layout + ".safetensors"), layout, lora);
                try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard();
                     LoRAWeights w = read(f, shapes)) {
                    assertPlacesEveryEntry(w, targets, layout.name());
                    Map<String, Tensor> live = ModuleTensors.namedTensors(unet);
                    Map<String, Tensor> before = new LinkedHashMap<>();
                    live.forEach((k, v) -> before.put(k, v.detach().clone()));
                    double scale = 1.0;
                    // PEFT files carry no alpha: diffusers applies them with alpha = r
                    double alphaOverR = layout == TestLoRA.Layout.PEFT ? 1.0 : 8.0 / 4;
                    try (LoRAMerge m = LoRAMerge.apply(List.of(new LoRAMerge.Applied(w, scale, scale)),
                            Map.of(Component.UNET, live))) {
                        assertEquals(targets.size(), m.size());
                        double worst = 0;
                        for (TestLoRA t : lora) {
                            String name = t.module() + ".weight";
                            long r = t.rank();
                            Tensor expected = before.get(name).add(t.up().reshape(t.up().size(0), r)
                                    .mm(t.down().reshape(r, -1)).mul(new Scalar(scale * alphaOverR)).reshape(shapes.get(name)));
                            double d = Tensors.maxAbsDiff(live.get(name), expected);
                            // one float32 rounding of W + delta, at most: |x| * 2^-23 with room for the sum's order
                            double bound = 4 * Math.ulp(1f) * Math.max(1, Tensors.maxAbs(expected));
                            assertTrue(d <= bound, name + ": merged weight off by " + d);
                            worst = Math.max(worst, d);
                        }
                        System.out.printf("%s: merged = W + (alpha/r) B A for every target, max|diff| %.2e%n", layout, worst);
                        for (String k : before.keySet()) {
                            boolean target = k.endsWith(".weight") && targets.containsKey(k.substring(0, k.length() - 7));
                            if (!target) assertEquals(0.0, Tensors.maxAbsDiff(before.get(k), live.get(k)), k + " is no LCM target and moved");
                        }
                    }
                    for (String k : before.keySet()) {
                        assertEquals(0.0, Tensors.maxAbsDiff(before.get(k), live.get(k)), k + " not restored");
                    }
                }
            }
        } finally {
            unet.close();
        }
    }

    /** peft's own save (adapter_model.safetensors, as the LCM repository's script writes it): base_model.model.<module>. */
    @Test
    void aPeftAdapterFileWithBaseModelNamesIsPlacedToo() {
        UNet2DConditionModel unet = new UNet2DConditionModel(RandomModel.TINY.unet());
        try {
            Map<String, long[]> shapes;
            try (PointerScope s = new PointerScope()) {
                shapes = shapes(ModuleTensors.namedTensors(unet));
            }
            Map<String, long[]> targets = lcmTargets(shapes);
            Map<String, Tensor> entries = new LinkedHashMap<>();
            TestLoRA.tensors(TestLoRA.Layout.PEFT, lcmLoRA(targets, 4, 4.0))
                    .forEach((k, v) -> entries.put("base_model.model." + k.substring("unet.".length()), v));
            Path f = dir.resolve("adapter_model.safetensors");
            jdiffusion.io.SafetensorsWriter.write(f, entries, Map.of());
            try (LoRAWeights w = read(f, shapes)) {
                assertPlacesEveryEntry(w, targets, "PEFT base_model.model");
            }
        } finally {
            unet.close();
        }
    }

    @Test
    void anEntryTheLoaderCannotPlaceFailsTheWholeFile() {
        UNet2DConditionModel unet = new UNet2DConditionModel(RandomModel.TINY.unet());
        try {
            Map<String, long[]> shapes;
            try (PointerScope s = new PointerScope()) {
                shapes = shapes(ModuleTensors.namedTensors(unet));
            }
            List<TestLoRA> lora = new ArrayList<>(lcmLoRA(lcmTargets(shapes), 4, 8.0));
            // a module this UNet does not have (a third resnet in the first down block)
            lora.add(TestLoRA.linear(Component.UNET, "down_blocks.0.resnets.2.time_emb_proj", 1, 32, 128, 4, 8));
            for (TestLoRA.Layout layout : List.of(TestLoRA.Layout.KOHYA, TestLoRA.Layout.PEFT)) {
                Path f = TestLoRA.write(dir.resolve("extra-" + layout + ".safetensors"), layout, lora);
                var e = assertThrows(JDiffusionException.class, () -> read(f, shapes).close());
                assertTrue(e.getMessage().contains("name no weight of this model")
                        && e.getMessage().contains("resnets" + (layout == TestLoRA.Layout.KOHYA ? "_2_" : ".2.")), e.getMessage());
                System.out.println(layout + ": " + e.getMessage());
            }
            // a 3x3 conv given a 1x1 down factor: refused, not reshaped into something else
            String conv = "down_blocks.0.resnets.0.conv1";
            long[] w = shapes.get(conv + ".weight");
            TestLoRA flat = TestLoRA.random(Component.UNET, conv, 3, new long[] {4, w[1], 1, 1}, new long[] {w[0], 4, 1, 1}, 4);
            Path f = TestLoRA.write(dir.resolve("flat.safetensors"), TestLoRA.Layout.KOHYA, List.of(flat));
            var e = assertThrows(JDiffusionException.class, () -> read(f, shapes).close());
            assertTrue(e.getMessage().contains("does not fit") && e.getMessage().contains(conv), e.getMessage());
        } finally {
            unet.close();
        }
    }

    /**
     * The full-size SD 1.5 UNet's names (3.4 GB of float32 parameters to build, so slow): an LCM-LoRA
     * for it is read in both layouts and every entry lands on its weight; shapes are checked against
     * the real layer widths (320-1280 channels, 768-wide text states).
     */
    @Test
    @Tag("slow")
    void sd15UNetKeySetTakesEveryLcmLoRAEntry() {
        Map<String, long[]> shapes;
        UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.stableDiffusion15());
        try (PointerScope s = new PointerScope()) {
            shapes = shapes(ModuleTensors.namedTensors(unet));
        } finally {
            unet.close();
        }
        Map<String, long[]> targets = lcmTargets(shapes);
        assertEveryKindIsPresent(targets);
        System.out.println("SD 1.5 LCM-LoRA targets: " + targets.size());
        List<TestLoRA> lora = lcmLoRA(targets, 2, 2.0);
        for (TestLoRA.Layout layout : List.of(TestLoRA.Layout.KOHYA, TestLoRA.Layout.PEFT)) {
            Path f = TestLoRA.write(dir.resolve("sd15-" + layout + ".safetensors"), layout, lora);
            try (LoRAWeights w = read(f, shapes)) {
                assertPlacesEveryEntry(w, targets, "SD 1.5 " + layout);
                for (LoRAWeights.Module m : w.modules()) {
                    Target t = m.target();
                    assertEquals(Component.UNET, t.component());
                    try (PointerScope s = new PointerScope()) {
                        assertEquals(Tensors.shapeString(shapes.get(t.weight())),
                                Tensors.shapeString(m.delta(1.0, Tensors.CPU)), t.weight());
                    }
                }
            }
        }
    }
}
