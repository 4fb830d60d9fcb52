package jdiffusion.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.LoRAKeyMap.Layout;
import jdiffusion.weights.WeightSource;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRAs on the golden tiny SD 1.x pipeline, checked against hand computations: the merged weight is
 * W + s (alpha/r) B A, the output is that of a model whose weights were changed by hand, and every
 * weight is bit-identical afterwards.
 */
class LoRATest {
    private static final String ATTN = "down_blocks.0.attentions.0.";
    private static final String Q = ATTN + "transformer_blocks.0.attn1.to_q";             // Linear [32, 32]
    private static final String FF = ATTN + "transformer_blocks.0.ff.net.0.proj";         // Linear [256, 32]
    private static final String PROJ_IN = ATTN + "proj_in";                               // 1x1 conv [32, 32, 1, 1]
    private static final String CONV = "down_blocks.0.resnets.0.conv1";                   // 3x3 conv [32, 32, 3, 3]
    private static final String TE_Q = "text_model.encoder.layers.0.self_attn.q_proj";    // Linear [32, 32]

    private static StableDiffusionPipeline pipe;

    @TempDir
    Path dir;

    /** Loaded once, outside any PointerScope. */
    @BeforeAll
    static void load() {
        pipe = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(), PipelineOptions.defaults());
    }

    private static StableDiffusionPipeline pipe() {
        return pipe;
    }

    @AfterAll
    static void close() {
        if (pipe != null) pipe.close();
    }

    private static GenerationRequest.Builder request(String prompt) {
        return GenerationRequest.builder(prompt).steps(3).guidanceScale(6).sampler("Euler").seed(7);
    }

    private static final TestLoRA Q_A = TestLoRA.linear(Component.UNET, Q, 1, 32, 32, 4, 2.0);
    private static final TestLoRA TE_A = TestLoRA.linear(Component.TEXT_ENCODER, TE_Q, 2, 32, 32, 4, 2.0);
    private static final TestLoRA Q_B = TestLoRA.linear(Component.UNET, Q, 3, 32, 32, 8, 4.0);
    private static final TestLoRA FF_B = TestLoRA.linear(Component.UNET, FF, 4, 256, 32, 8, 8.0);
    private static final TestLoRA PROJ_B = TestLoRA.linear(Component.UNET, PROJ_IN, 5, 32, 32, 2, 1.0);
    private static final TestLoRA CONV_B = TestLoRA.random(Component.UNET, CONV, 6, new long[] {4, 32, 3, 3},
            new long[] {32, 4, 1, 1}, 4.0);

    /** Live weights of both models by component and name. */
    private static Map<Component, Map<String, Tensor>> live() {
        return Map.of(Component.UNET, ModuleTensors.namedTensors(pipe().unet()),
                Component.TEXT_ENCODER, ModuleTensors.namedTensors(pipe().textEncoder()));
    }

    private static Map<String, Tensor> snapshot() {
        Map<String, Tensor> copy = new LinkedHashMap<>();
        live().forEach((c, m) -> m.forEach((k, v) -> copy.put(c + "/" + k, v.detach().clone())));
        return copy;
    }

    private static void assertBitIdentical(Map<String, Tensor> before) {
        Map<String, Tensor> now = new LinkedHashMap<>();
        live().forEach((c, m) -> m.forEach((k, v) -> now.put(c + "/" + k, v)));
        assertEquals(before.keySet(), now.keySet());
        for (String k : before.keySet()) {
            assertEquals(0.0, Tensors.maxAbsDiff(before.get(k), now.get(k)), k + " changed");
        }
    }

    /** s (alpha/r) B A reshaped to the weight, computed as the merge documents it. */
    private static Tensor delta(TestLoRA m, double scale, long[] shape) {
        long r = m.rank();
        return m.up().reshape(m.up().size(0), r).mm(m.down().reshape(r, -1)).mul(new Scalar(scale * m.alpha() / r)).reshape(shape);
    }

    /** Runs {@code work} with the weights changed by hand to W + Σ deltas, then puts them back. */
    private static GenerationResult withHandMerged(Map<TestLoRA, Double> loras, GenerationRequest r) {
        Map<String, Tensor> sums = new LinkedHashMap<>();
        Map<String, Tensor> weights = new LinkedHashMap<>();
        Map<Component, Map<String, Tensor>> live = live();
        for (Map.Entry<TestLoRA, Double> e : loras.entrySet()) {
            TestLoRA m = e.getKey();
            Tensor w = live.get(m.component()).get(m.module() + ".weight");
            weights.put(m.module(), w);
            sums.merge(m.module(), delta(m, e.getValue(), Tensors.shape(w)), Tensor::add);
        }
        Map<String, Tensor> originals = new LinkedHashMap<>();
        try (NoGradGuard g = new NoGradGuard()) {
            sums.forEach((k, d) -> {
                originals.put(k, weights.get(k).detach().clone());
                weights.get(k).copy_(weights.get(k).add(d));
            });
            try {
                return pipe().generate(r);
            } finally {
                originals.forEach((k, o) -> weights.get(k).copy_(o));
            }
        }
    }

    private static void assertSame(Tensor a, Tensor b, String what) {
        double d = Tensors.maxAbsDiff(a, b);
        System.out.printf("%-60s max|diff| = %.3e%n", what, d);
        assertEquals(0.0, d, what);
    }

    private static void assertDifferent(Tensor a, Tensor b, String what) {
        double d = Tensors.maxAbsDiff(a, b);
        System.out.printf("%-60s max|diff| = %.3e%n", what, d);
        assertTrue(d > 1e-3, what + ": the LoRA should change the output, max|diff| " + d);
    }

    @Test
    void mergedWeightIsWPlusScaledProductAndTheOriginalsComeBackBitForBit() {
        Path f = TestLoRA.write(dir.resolve("q.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A));
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> before = snapshot();
            try (LoRAWeights w = pipe().readLoRA(f)) {
                assertEquals(Layout.KOHYA, w.layout());
                assertEquals(1, w.modules().size());
                assertEquals(4, w.modules().getFirst().rank());
                assertEquals(2.0, w.modules().getFirst().alpha());
                try (LoRAMerge m = LoRAMerge.apply(List.of(new LoRAMerge.Applied(w, 0.7, 0.7)), live())) {
                    assertEquals(1, m.size());
                    Tensor merged = live().get(Component.UNET).get(Q + ".weight");
                    Tensor w0 = before.get("UNet/" + Q + ".weight");
                    // the same expression in libtorch: bit for bit
                    assertSame(merged, w0.add(Q_A.up().mm(Q_A.down()).mul(new Scalar(0.7 * 2.0 / 4))), "merged to_q vs W + s(a/r)BA");
                    // and an independent float64 loop, to the float32 rounding
                    float[] wf = Tensors.toFloats(w0), a = Tensors.toFloats(Q_A.down()), b = Tensors.toFloats(Q_A.up());
                    float[] got = Tensors.toFloats(merged);
                    double worst = 0;
                    for (int o = 0; o < 32; o++) {
                        for (int i = 0; i < 32; i++) {
                            double ba = 0;
                            for (int k = 0; k < 4; k++) ba += (double) b[o * 4 + k] * a[k * 32 + i];
                            worst = Math.max(worst, Math.abs(got[o * 32 + i] - (wf[o * 32 + i] + 0.7 * 2.0 / 4 * ba)));
                        }
                    }
                    System.out.printf("merged to_q vs float64 loop: max|diff| = %.3e%n", worst);
                    assertTrue(worst < 1e-6, "float64 check " + worst);
                    // nothing else moved
                    Map<String, Tensor> others = new LinkedHashMap<>(before);
                    others.remove("UNet/" + Q + ".weight");
                    live().forEach((c, mm) -> mm.forEach((k, v) -> {
                        if (others.containsKey(c + "/" + k)) assertEquals(0.0, Tensors.maxAbsDiff(others.get(c + "/" + k), v), k);
                    }));
                }
            }
            assertBitIdentical(before);
        }
    }

    @Test
    void unetOutputWithTheLoRAIsTheOutputOfTheHandModifiedUNet() {
        Path f = TestLoRA.write(dir.resolve("q.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, CONV_B, PROJ_B));
        try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            TorchGenerator gen = new TorchGenerator(11);
            Tensor sample = gen.randn(1, 4, 16, 16);
            Tensor context = gen.randn(1, 77, 32);
            Tensor t = Tensors.fromFloats(new float[] {500f}, 1);
            Tensor base = pipe().unet().forward(sample, t, context).clone();
            Tensor merged;
            try (LoRAWeights w = pipe().readLoRA(f);
                 LoRAMerge m = LoRAMerge.apply(List.of(new LoRAMerge.Applied(w, 0.9, 0.9)), live())) {
                assertEquals(3, m.size());
                merged = pipe().unet().forward(sample, t, context).clone();
            }
            Map<String, Tensor> unet = live().get(Component.UNET);
            Map<String, Tensor> originals = new LinkedHashMap<>();
            for (TestLoRA l : List.of(Q_A, CONV_B, PROJ_B)) {
                Tensor w = unet.get(l.module() + ".weight");
                originals.put(l.module(), w.clone());
                w.copy_(w.add(delta(l, 0.9, Tensors.shape(w))));
            }
            Tensor byHand = pipe().unet().forward(sample, t, context).clone();
            originals.forEach((k, o) -> unet.get(k + ".weight").copy_(o));
            assertSame(merged, byHand, "UNet out: LoRA merged vs weights edited by hand");
            assertDifferent(merged, base, "UNet out: LoRA vs base");
            assertSame(pipe().unet().forward(sample, t, context), base, "UNet out after the merge vs before");
        }
    }

    @Test
    void aRequestAppliesItsLoRAsAndTheNextOneSeesTheBaseWeights() {
        Path f = TestLoRA.write(dir.resolve("a.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> before = snapshot();
            Tensor base = pipe().generate(request("a red circle").build()).finalLatents();
            GenerationResult lora = pipe().generate(request("a red circle").lora(LoRASpec.file(f, 0.8)).build());
            assertBitIdentical(before);
            GenerationResult byHand = withHandMerged(Map.of(Q_A, 0.8, TE_A, 0.8), request("a red circle").build());
            assertSame(lora.finalLatents(), byHand.finalLatents(), "pipeline: LoRA vs hand-merged weights");
            assertDifferent(lora.finalLatents(), base, "pipeline: LoRA vs base");
            assertSame(pipe().generate(request("a red circle").build()).finalLatents(), base, "pipeline: base after a LoRA request");
            assertSame(pipe().generate(request("a red circle").lora(LoRASpec.file(f, 0.0)).build()).finalLatents(), base,
                    "pipeline: scale 0 vs base");
            // the text-encoder part alone: A1111's te= / unet= multipliers
            GenerationResult teOnly = pipe().generate(request("a red circle").lora(new LoRASpec(f, null, 0.0, 0.8)).build());
            assertSame(teOnly.finalLatents(), withHandMerged(Map.of(TE_A, 0.8), request("a red circle").build()).finalLatents(),
                    "pipeline: text-encoder part only");
            assertBitIdentical(before);
        }
    }

    /**
     * {@code generate} inside {@code withLoRAs}: its own LoRAs go on top of the outer set for its length,
     * none runs on the outer set, and the outer work then continues on its set; work that runs beside
     * other work (no LoRAs) cannot take a set inside, and says so instead of waiting for itself.
     */
    @Test
    @Timeout(120)
    void aRequestInsideWithLoRAsAddsItsLoRAsOnTopOfTheOuterSet() {
        Path a = TestLoRA.write(dir.resolve("outer.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, CONV_B));
        Path b = TestLoRA.write(dir.resolve("inner.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_B, FF_B));
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> before = snapshot();
            GenerationRequest plain = request("a red circle").build();
            Tensor outerOnly = withHandMerged(Map.of(Q_A, 0.7, CONV_B, 0.7), plain).finalLatents();
            Tensor both = withHandMerged(Map.of(Q_A, 0.7, CONV_B, 0.7, Q_B, 0.9, FF_B, 0.9), plain).finalLatents();
            Tensor[] got = new Tensor[3];
            pipe().withLoRAs(List.of(LoRASpec.file(a, 0.7)), null, () -> {
                got[0] = pipe().generate(plain).finalLatents();
                got[1] = pipe().generate(request("a red circle").lora(LoRASpec.file(b, 0.9)).build()).finalLatents();
                got[2] = pipe().generate(plain).finalLatents();
                // settings and restores would change the weights under the outer work's feet
                JDiffusionException inside = assertThrows(JDiffusionException.class, () -> pipe().components().loras().restoreBase());
                assertTrue(inside.getMessage().contains("cannot be called from inside work"), inside.getMessage());
                return null;
            });
            assertSame(outerOnly, got[0], "inside, no LoRAs of its own: the outer set");
            // the inner set is added to weights already rounded with the outer one: float32 rounding apart
            double d = Tensors.maxAbsDiff(both, got[1]);
            assertTrue(d < 1e-4 * Math.max(1, Tensors.maxAbs(both)), "inside with its own LoRAs: both sets, max|diff| " + d);
            assertDifferent(outerOnly, got[1], "the inner set changes the result");
            assertSame(outerOnly, got[2], "after the inner request: the outer set again");
            assertBitIdentical(before);

            JDiffusionException e = assertThrows(JDiffusionException.class, () -> pipe().withLoRAs(List.of(), null,
                    () -> pipe().generate(request("a red circle").lora(LoRASpec.file(b, 0.9)).build())));
            assertTrue(e.getMessage().contains("cannot be merged inside work"), e.getMessage());
            assertBitIdentical(before);
        }
    }

    @Test
    void aKeptSetStaysMergedForTheSameLoRAsAndIsRestoredForOthers() {
        Path a = TestLoRA.write(dir.resolve("keep-a.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        Path b = TestLoRA.write(dir.resolve("keep-b.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_B, CONV_B));
        LoRASession session = pipe().components().loras();
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> base = snapshot();
            Tensor plain = pipe().generate(request("a red circle").build()).finalLatents();
            Tensor onceA = pipe().generate(request("a red circle").lora(LoRASpec.file(a, 0.7)).build()).finalLatents();
            assertTrue(session.mergedHashes().isEmpty(), "by default a set is restored after its request");
            assertBitIdentical(base);

            session.keepMerged(true);
            try {
                Tensor keptA = pipe().generate(request("a red circle").lora(LoRASpec.file(a, 0.7)).build()).finalLatents();
                assertSame(onceA, keptA, "kept merge, first request");
                assertEquals(List.of(LoRAFiles.shortHash(a)), session.mergedHashes(), "the set stays merged between requests");
                assertSame(onceA, pipe().generate(request("a red circle").lora(LoRASpec.file(a, 0.7)).build()).finalLatents(),
                        "the same set again, without re-merging");
                // another scale of the same file is another set
                Tensor otherScale = pipe().generate(request("a red circle").lora(LoRASpec.file(a, 0.3)).build()).finalLatents();
                assertDifferent(onceA, otherScale, "scale 0.3 vs 0.7");
                Tensor onlyB = pipe().generate(request("a red circle").lora(LoRASpec.file(b, 0.9)).build()).finalLatents();
                assertEquals(List.of(LoRAFiles.shortHash(b)), session.mergedHashes());
                assertSame(plain, pipe().generate(request("a red circle").build()).finalLatents(), "no LoRA after a kept set");
                assertTrue(session.mergedHashes().isEmpty());
                assertBitIdentical(base);
                assertDifferent(onlyB, plain, "b vs none");
                pipe().generate(request("a red circle").lora(LoRASpec.file(b, 0.9)).build());
            } finally {
                session.keepMerged(false);
            }
            assertTrue(session.mergedHashes().isEmpty(), "keepMerged(false) restores");
            assertBitIdentical(base);
        }
    }

    /**
     * A process that runs one request (the CLI) merges for good: the weights end as the restorable merge
     * leaves them during its request (so the image is the same), stay merged, and any other set, or none,
     * is refused in one line instead of running on weights that are neither.
     */
    @Test
    @Timeout(120)
    void aSetMergedForGoodGivesTheSameImageAndRefusesAnyOtherSet() {
        Path a = TestLoRA.write(dir.resolve("good-a.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A, CONV_B));
        Path b = TestLoRA.write(dir.resolve("good-b.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_B));
        // its own pipeline (built outside any scope): this one's weights do not come back
        try (StableDiffusionPipeline own = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(),
                PipelineOptions.defaults())) {
            LoRASession session = own.components().loras();
            session.keepOriginals(false);
            try (PointerScope scope = new PointerScope()) {
                Tensor expected = withHandMerged(Map.of(Q_A, 0.7, TE_A, 0.7, CONV_B, 0.7), request("a red circle").build())
                        .finalLatents();
                Tensor base = ModuleTensors.namedTensors(own.unet()).get(Q + ".weight").detach().clone();
                GenerationRequest withA = request("a red circle").lora(LoRASpec.file(a, 0.7)).build();
                assertSame(expected, own.generate(withA).finalLatents(), "merged for good vs by hand");
                assertEquals(List.of(LoRAFiles.shortHash(a)), session.mergedHashes(), "the set stays merged");
                Tensor merged = ModuleTensors.namedTensors(own.unet()).get(Q + ".weight");
                assertDifferent(base, merged, "the weight after the request");
                assertSame(expected, own.generate(withA).finalLatents(), "the same set again");

                GenerationRequest withB = request("a red circle").lora(LoRASpec.file(b, 0.9)).build();
                JDiffusionException other = assertThrows(JDiffusionException.class, () -> own.generate(withB));
                assertTrue(other.getMessage().contains("merged for good"), other.getMessage());
                assertThrows(JDiffusionException.class, () -> own.generate(request("a red circle").build()));
                // work nested in the set's own work: with no LoRAs of its own it runs on the set; another set is
                // refused (the outer work holds the read lock: refused, not left waiting)
                assertSame(expected, own.withLoRAs(List.of(LoRASpec.file(a, 0.7)), null,
                        () -> own.generate(request("a red circle").build())).finalLatents(), "nested, no LoRAs of its own");
                JDiffusionException nested = assertThrows(JDiffusionException.class, () -> own.withLoRAs(
                        List.of(LoRASpec.file(a, 0.7)), null, () -> own.generate(withB)));
                assertTrue(nested.getMessage().contains("merged for good"), nested.getMessage());
                session.restoreBase(); // nothing saved to restore: a no-op, not a half-restored model
                assertEquals(List.of(LoRAFiles.shortHash(a)), session.mergedHashes());
                assertSame(merged, ModuleTensors.namedTensors(own.unet()).get(Q + ".weight"), "still the merged weight");
            }
        }
    }

    /** A pipeline folder's UNet and text encoder files, as a LoRA restore reads them. */
    private static Map<Component, WeightSource> files(Path folder) {
        return Map.of(Component.UNET, UNet2DConditionModel.weightSource(folder.resolve("unet"), null),
                Component.TEXT_ENCODER, CLIPTextModel.weightSource(folder.resolve("text_encoder"), null));
    }

    private static Map<Component, WeightSource> files() {
        return files(Golden.model("sd1-tiny-pipeline"));
    }

    /**
     * A reversible merge holds no copy of a weight its file still has (the restore reads it back, bit
     * for bit, through the loader's conversion: float32 on disk, bf16 in memory here), and copies a
     * weight changed since the load, which then comes back as it was, not as the file has it.
     */
    @Test
    void aRestoreReadsUnchangedWeightsBackFromTheFileAndKeepsCopiesOfChangedOnes() {
        Path f = TestLoRA.write(dir.resolve("files.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A, CONV_B));
        PipelineOptions bf16 = PipelineOptions.of("bf16", "cpu", null);
        try (StableDiffusionPipeline own = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(), bf16)) {
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                Map<Component, Map<String, Tensor>> live = Map.of(Component.UNET, ModuleTensors.namedTensors(own.unet()),
                        Component.TEXT_ENCODER, ModuleTensors.namedTensors(own.textEncoder()));
                Map<String, Tensor> before = new LinkedHashMap<>();
                live.forEach((c, m) -> m.forEach((k, v) -> before.put(c + "/" + k, v.detach().clone())));
                Runnable unchanged = () -> live.forEach((c, m) -> m.forEach((k, v) ->
                        assertEquals(0.0, Tensors.maxAbsDiff(before.get(c + "/" + k), v), c + "/" + k + " changed")));
                Tensor conv = live.get(Component.UNET).get(CONV + ".weight");
                try (LoRAWeights w = own.readLoRA(f);
                     LoRAMerge m = LoRAMerge.apply(List.of(new LoRAMerge.Applied(w, 0.7, 0.7)), live, files())) {
                    assertEquals(3, m.size());
                    assertEquals(0, m.copies(), "every changed weight is still its file's");
                    assertDifferent(before.get(Component.UNET + "/" + CONV + ".weight"), conv, "the merged conv");
                    assertDifferent(before.get(Component.TEXT_ENCODER + "/" + TE_Q + ".weight"),
                            live.get(Component.TEXT_ENCODER).get(TE_Q + ".weight"), "the merged text encoder q");
                }
                unchanged.run();

                // changed by hand since the load (as training would change it): copied, and restored to that
                Tensor changed = conv.add(new Scalar(0.25));
                conv.copy_(changed);
                before.put(Component.UNET + "/" + CONV + ".weight", changed);
                try (LoRAWeights w = own.readLoRA(f);
                     LoRAMerge m = LoRAMerge.apply(List.of(new LoRAMerge.Applied(w, 0.7, 0.7)), live, files())) {
                    assertEquals(1, m.copies(), "only the changed conv is copied");
                }
                unchanged.run();

                // through the session, which the folder's loader pointed at the same files
                GenerationRequest withLoRA = request("a red circle").lora(LoRASpec.file(f, 0.7)).build();
                assertDifferent(own.generate(request("a red circle").build()).finalLatents(),
                        own.generate(withLoRA).finalLatents(), "with and without the LoRA");
                unchanged.run();
            }
        }
    }

    /** A single-file checkpoint's pipeline restores from the file too: a kept set holds no copies, and its restore is exact. */
    @Test
    void aSingleFileCheckpointIsReadBackToo() {
        Path file = dir.resolve("tiny.safetensors");
        jdiffusion.checkpoint.SingleFileExport.write(Golden.model("sd1-tiny-pipeline"), file, null);
        Path f = TestLoRA.write(dir.resolve("single.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A, CONV_B));
        try (StableDiffusionPipeline own = StableDiffusionPipeline.load(file.toString(),
                Golden.model("sd1-tiny-pipeline").resolve("tokenizer"), PipelineOptions.of("bf16", "cpu", null))) {
            LoRASession session = own.components().loras();
            session.keepMerged(true);
            try (PointerScope scope = new PointerScope()) {
                Map<String, Tensor> before = new LinkedHashMap<>();
                ModuleTensors.namedTensors(own.unet()).forEach((k, v) -> before.put(k, v.detach().clone()));
                own.generate(request("a red circle").lora(LoRASpec.file(f, 0.7)).build());
                assertEquals(List.of(LoRAFiles.shortHash(f)), session.mergedHashes());
                assertEquals(0, session.mergedCopies(), "every changed weight is read back from the checkpoint");
                session.restoreBase();
                ModuleTensors.namedTensors(own.unet()).forEach((k, v) ->
                        assertEquals(0.0, Tensors.maxAbsDiff(before.get(k), v), k + " not restored"));
            }
        }
    }

    /**
     * A model file written over in place while a set is merged holds other bytes: the restore does not
     * read it, fails naming the file, and the session refuses further work in one line.
     */
    @Test
    void aModelFileWrittenOverWhileMergedFailsTheRestoreInsteadOfReadingIt() throws Exception {
        Path folder = dir.resolve("pipeline");
        try (var walk = Files.walk(Golden.model("sd1-tiny-pipeline"))) {
            for (Path p : walk.toList()) {
                Path to = folder.resolve(Golden.model("sd1-tiny-pipeline").relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(to);
                else Files.copy(p, to);
            }
        }
        Path f = TestLoRA.write(dir.resolve("over.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, CONV_B));
        try (StableDiffusionPipeline own = StableDiffusionPipeline.load(folder.toString(), PipelineOptions.defaults())) {
            LoRASession session = own.components().loras();
            session.keepMerged(true);
            try (PointerScope scope = new PointerScope()) {
                own.generate(request("a red circle").lora(LoRASpec.file(f, 0.7)).build());
                assertEquals(List.of(LoRAFiles.shortHash(f)), session.mergedHashes(), "kept merged");
                // the same bytes written back into the same file (same inode), a later time
                Path unet = folder.resolve("unet/diffusion_pytorch_model.safetensors");
                byte[] bytes = Files.readAllBytes(unet);
                Files.write(unet, bytes, java.nio.file.StandardOpenOption.TRUNCATE_EXISTING);
                Files.setLastModifiedTime(unet, FileTime.fromMillis(System.currentTimeMillis() + 60_000));
                LoRAMerge.RestoreFailedException e = assertThrows(LoRAMerge.RestoreFailedException.class, session::restoreBase);
                assertTrue(e.getMessage().contains("written over since it was loaded") && e.getMessage().contains("load the model again"),
                        e.getMessage());
                JDiffusionException next = assertThrows(JDiffusionException.class, () -> own.generate(request("a red circle").build()));
                assertTrue(next.getMessage().contains("load the model again"), next.getMessage());
            }
        }
    }

    /** The session reuses a file's hash while its size and time stay; a file rewritten in place is another set. */
    @Test
    void aKeptSetFollowsItsFileWhenTheFileIsRewritten() throws Exception {
        Path file = dir.resolve("rewritten.safetensors");
        Path other = TestLoRA.write(dir.resolve("rewritten-b.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_B, TE_A));
        TestLoRA.write(file, TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        LoRASession session = pipe().components().loras();
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> base = snapshot();
            // by hand on the base weights, before any set is kept merged
            Tensor expected = withHandMerged(Map.of(Q_B, 0.7, TE_A, 0.7), request("a red circle").build()).finalLatents();
            session.keepMerged(true);
            try {
                Tensor first = pipe().generate(request("a red circle").lora(LoRASpec.file(file, 0.7)).build()).finalLatents();
                String firstHash = session.mergedHashes().getFirst();
                // the same path now holds other tensors (a newer time, as any rewrite gives)
                Files.copy(other, file, StandardCopyOption.REPLACE_EXISTING);
                Files.setLastModifiedTime(file, FileTime.fromMillis(System.currentTimeMillis() + 5_000));
                Tensor second = pipe().generate(request("a red circle").lora(LoRASpec.file(file, 0.7)).build()).finalLatents();
                assertEquals(List.of(LoRAFiles.shortHash(other)), session.mergedHashes(), "re-hashed and re-merged");
                assertNotEquals(firstHash, session.mergedHashes().getFirst());
                assertSame(expected, second, "the new file's tensors, not the kept ones");
                assertDifferent(first, second, "old vs rewritten file");
            } finally {
                session.keepMerged(false);
            }
            assertBitIdentical(base);
        }
    }

    @Test
    void twoLoRAsAddUp() {
        Path a = TestLoRA.write(dir.resolve("a.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        Path b = TestLoRA.write(dir.resolve("b.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_B, FF_B, PROJ_B, CONV_B));
        try (PointerScope scope = new PointerScope()) {
            GenerationResult both = pipe().generate(request("a red circle")
                    .lora(LoRASpec.file(a, 0.6)).lora(LoRASpec.file(b, 0.9)).build());
            Map<TestLoRA, Double> hand = new LinkedHashMap<>();
            hand.put(Q_A, 0.6);
            hand.put(TE_A, 0.6);
            hand.put(Q_B, 0.9); // to_q gets both: W + (dA + dB)
            hand.put(FF_B, 0.9);
            hand.put(PROJ_B, 0.9);
            hand.put(CONV_B, 0.9);
            assertSame(both.finalLatents(), withHandMerged(hand, request("a red circle").build()).finalLatents(),
                    "two LoRAs vs W + dA + dB by hand");
            Tensor onlyA = pipe().generate(request("a red circle").lora(LoRASpec.file(a, 0.6)).build()).finalLatents();
            assertDifferent(both.finalLatents(), onlyA, "two LoRAs vs the first alone");
        }
    }

    @Test
    void kohyaAndDiffusersLayoutsOfTheSameLoRAGiveTheSameImage() {
        // alpha = r: diffusers' own files carry no alpha and are applied at alpha/r = 1
        TestLoRA q = TestLoRA.linear(Component.UNET, Q, 21, 32, 32, 4, 4.0);
        TestLoRA te = TestLoRA.linear(Component.TEXT_ENCODER, TE_Q, 22, 32, 32, 4, 4.0);
        TestLoRA conv = TestLoRA.random(Component.UNET, CONV, 23, new long[] {2, 32, 3, 3}, new long[] {32, 2, 1, 1}, 2.0);
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> results = new LinkedHashMap<>();
            for (TestLoRA.Layout layout : TestLoRA.Layout.values()) {
                List<TestLoRA> modules = switch (layout) {
                    case KOHYA, PEFT -> List.of(q, te, conv);
                    case KOHYA_LDM, DIFFUSERS_PROCESSOR -> List.of(q); // spellings of attention modules only
                };
                Path f = TestLoRA.write(dir.resolve(layout + ".safetensors"), layout, modules);
                results.put(layout + " " + modules.size(), pipe().generate(request("a red circle").lora(LoRASpec.file(f, 0.75)).build())
                        .finalLatents());
                try (LoRAWeights w = pipe().readLoRA(f)) {
                    assertEquals(layout == TestLoRA.Layout.KOHYA || layout == TestLoRA.Layout.KOHYA_LDM ? Layout.KOHYA : Layout.DIFFUSERS,
                            w.layout(), layout.toString());
                }
            }
            assertSame(results.get("KOHYA 3"), results.get("PEFT 3"), "kohya vs PEFT (to_q, q_proj, LoCon 3x3)");
            assertSame(results.get("KOHYA_LDM 1"), results.get("DIFFUSERS_PROCESSOR 1"), "kohya LDM names vs diffusers processor names");
            Path plain = TestLoRA.write(dir.resolve("plain.safetensors"), TestLoRA.Layout.KOHYA, List.of(q));
            assertSame(results.get("KOHYA_LDM 1"), pipe().generate(request("a red circle").lora(LoRASpec.file(plain, 0.75)).build())
                    .finalLatents(), "kohya LDM names vs kohya diffusers names");
        }
    }

    @Test
    void aPromptTagAppliesTheNamedLoRAAtItsMultiplierAndLeavesTheText() throws Exception {
        Path f = TestLoRA.write(dir.resolve("myStyle.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        try (PointerScope scope = new PointerScope()) {
            GenerationResult tagged = pipe().generate(request("a red <lora:myStyle:0.5>circle").loraDir(dir).build());
            GenerationResult given = pipe().generate(request("a red circle").lora(LoRASpec.file(f, 0.5)).build());
            // equal latents: the LoRA at 0.5, and the text encoded without the tag
            assertSame(tagged.finalLatents(), given.finalLatents(), "<lora:myStyle:0.5> vs LoRASpec at 0.5 and no tag");
            assertDifferent(tagged.finalLatents(), pipe().generate(request("a red circle").lora(LoRASpec.file(f, 1.0)).build())
                    .finalLatents(), "<lora:myStyle:0.5> vs the LoRA at 1.0");
            GenerationResult split = pipe().generate(request("a red circle <lora:myStyle:te=0:unet=0.5>").loraDir(dir).build());
            assertSame(split.finalLatents(), pipe().generate(request("a red circle").lora(new LoRASpec(f, null, 0.5, 0)).build())
                    .finalLatents(), "<lora:myStyle:te=0:unet=0.5>");
            // found in a subfolder too
            Path sub = Files.createDirectories(dir.resolve("styles/more"));
            Files.move(f, sub.resolve("myStyle.safetensors"));
            assertSame(pipe().generate(request("a red <lora:myStyle:0.5>circle").loraDir(dir).build()).finalLatents(),
                    tagged.finalLatents(), "tag resolved in a subfolder");

            // A1111's infotext: the prompt keeps its tag, "Lora hashes" names it with its addnet hash
            var p = tagged.parameters().getFirst();
            assertEquals("a red <lora:myStyle:0.5>circle", p.prompt());
            byte[] bytes = Files.readAllBytes(sub.resolve("myStyle.safetensors"));
            long header = java.nio.ByteBuffer.wrap(bytes, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            byte[] data = java.util.Arrays.copyOfRange(bytes, (int) (8 + header), bytes.length);
            String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data)).substring(0, 12);
            assertEquals("myStyle: " + hash, p.get("Lora hashes"));
            assertTrue(p.format().contains("Lora hashes: \"myStyle: " + hash + "\""), p.format());
            assertTrue(tagged.warnings().isEmpty(), tagged.warnings().toString());
        }
    }

    @Test
    void badFilesAndNamesGiveClearErrorsAndTouchNothing() throws Exception {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> before = snapshot();
            // an entry for a module this model lacks (a second transformer block)
            TestLoRA extra = TestLoRA.linear(Component.UNET, ATTN + "transformer_blocks.1.attn1.to_q", 1, 32, 32, 4, 4);
            Path unknown = TestLoRA.write(dir.resolve("unknown.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, extra));
            String m = message(unknown);
            assertTrue(m.contains("3 of 6 entries name no weight of this model") && m.contains("transformer_blocks_1_attn1_to_q")
                    && m.contains("another architecture"), m);

            // a LoRA for a model with wider text states: to_k of cross-attention takes 64, not 32
            TestLoRA wide = TestLoRA.linear(Component.UNET, ATTN + "transformer_blocks.0.attn2.to_k", 1, 32, 64, 4, 4);
            m = message(TestLoRA.write(dir.resolve("wide.safetensors"), TestLoRA.Layout.PEFT, List.of(wide)));
            assertTrue(m.contains("attn2.to_k.weight [32, 32]") && m.contains("down [4, 64], up [32, 4]")
                    && m.contains("another model"), m);

            Map<String, Tensor> t = new LinkedHashMap<>();
            t.put("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", Q_A.down());
            m = message(write("half.safetensors", t));
            assertTrue(m.contains("a down matrix but no up matrix"), m);

            t.put("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", Q_A.up());
            t.put("lora_unet_down_blocks_0_attentions_0_proj_in.dora_scale", Q_A.up());
            m = message(write("dora.safetensors", t));
            assertTrue(m.contains("uses DoRA"), m);

            t.clear();
            t.put("lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", Q_A.down());
            assertTrue(message(write("xl.safetensors", t)).contains("SDXL"));

            t.clear();
            t.put("conv_in.weight", Q_A.down());
            m = message(write("notalora.safetensors", t));
            assertTrue(m.contains("Nothing matched"), m);

            assertTrue(message(dir.resolve("missing.safetensors")).contains("does not exist"));
            Files.writeString(dir.resolve("old.pt"), "x");
            assertTrue(message(dir.resolve("old.pt")).contains("neither a safetensors file nor a PyTorch pickle")); // pickles: LoRAPickleTest

            var noDir = assertThrows(JDiffusionException.class, () -> pipe().generate(request("a <lora:myStyle:0.5>").build()));
            assertTrue(noDir.getMessage().contains("--lora-dir"), noDir.getMessage());
            var noName = assertThrows(JDiffusionException.class,
                    () -> pipe().generate(request("a <lora:../unknown:0.5>").loraDir(dir).build()));
            assertTrue(noName.getMessage().contains("no LoRA named '../unknown'"), noName.getMessage());
            assertBitIdentical(before);
        }
    }

    @Test
    void concurrentRequestsNeverSeeEachOthersLoRAs() throws Exception {
        Path f = TestLoRA.write(dir.resolve("a.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A, CONV_B));
        float[] base;
        float[] lora;
        try (PointerScope scope = new PointerScope()) {
            base = Tensors.toFloats(pipe().generate(request("a red circle").build()).finalLatents());
            lora = Tensors.toFloats(pipe().generate(request("a red circle").lora(LoRASpec.file(f, 1.0)).build()).finalLatents());
        }
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<Boolean>> checks = new ArrayList<>();
            for (int i = 0; i < 9; i++) {
                boolean withLoRA = i % 3 == 0;
                checks.add(pool.submit(() -> {
                    try (PointerScope scope = new PointerScope()) {
                        var b = request("a red circle");
                        if (withLoRA) b.lora(LoRASpec.file(f, 1.0));
                        float[] got = Tensors.toFloats(pipe().generate(b.build()).finalLatents());
                        return java.util.Arrays.equals(got, withLoRA ? lora : base);
                    }
                }));
            }
            for (Future<Boolean> c : checks) assertTrue(c.get(), "a request saw another request's LoRA");
        } finally {
            pool.shutdown();
        }
    }

    private Path write(String name, Map<String, Tensor> tensors) {
        Path p = dir.resolve(name);
        SafetensorsWriter.write(p, tensors, Map.of());
        return p;
    }

    private static String message(Path lora) {
        var e = assertThrows(JDiffusionException.class, () -> pipe().readLoRA(lora).close());
        System.out.println("error: " + e.getMessage());
        return e.getMessage();
    }
}
