package jdiffusion.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DType;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.nn.Layers;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import jdiffusion.weights.LoRAKeyMap;
import jdiffusion.weights.LoRAKeyMap.Component;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.DeviceType;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA training adapters on the golden tiny SD 1.x UNet and text encoder: exact identity at
 * attach and after close, the hand-merged weight W + (alpha/r) B A, diffusers' file names, the
 * round trip through the project's LoRA reader, gradients, a few AdamW steps, and bf16 autocast.
 */
class LoRATrainingTest {
    private static UNet2DConditionModel unet;
    private static CLIPTextModel text;
    // fixed inputs, made outside any scope: they live for the class
    private static Tensor sample;    // [2, 4, 16, 16]
    private static Tensor timestep;  // [2]
    private static Tensor context;   // [2, 8, 32]
    private static Tensor ids;       // [2, 77]
    private static Tensor target;    // [2, 4, 16, 16]

    @TempDir
    Path dir;

    @BeforeAll
    static void load() {
        Path model = Golden.model("sd1-tiny-pipeline");
        unet = UNet2DConditionModel.load(model.resolve("unet"), ScalarType.Float, Tensors.CPU);
        text = CLIPTextModel.load(model.resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
        freeze();
        TorchGenerator g = new TorchGenerator(5);
        sample = g.randn(2, 4, 16, 16);
        timestep = Tensors.fromLongs(new long[] {10, 700}, 2);
        context = g.randn(2, 8, 32);
        ids = g.randint(0, 49408, 2, 77);
        target = g.randn(2, 4, 16, 16);
    }

    @AfterAll
    static void close() {
        if (unet != null) unet.close();
        if (text != null) text.close();
    }

    /** The caller's part of the contract: the base weights get no gradients. */
    private static void freeze() {
        for (Tensor t : ModuleTensors.namedTensors(unet).values()) t.requires_grad_(false);
        for (Tensor t : ModuleTensors.namedTensors(text).values()) t.requires_grad_(false);
    }

    private static Tensor unetOut() {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return unet.forward(sample, timestep, context);
        }
    }

    private static Tensor textOut() {
        return text.encode(ids);
    }

    /** The training loss: the UNet conditioned on the (adapted) text encoder, against a fixed target. */
    private static Tensor loss() {
        Tensor pred = unet.forward(sample, timestep, text.encodeForTraining(ids)).to(ScalarType.Float);
        return torch.mse_loss(pred, target);
    }

    /** Every adapter factor set to seeded random values (B is zero after attach). */
    private static void randomize(LoRATraining lora, long seed) {
        TorchGenerator g = new TorchGenerator(seed);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            for (Tensor p : lora.parameters().values()) p.copy_(g.randn(Tensors.shape(p)).mul(new Scalar(0.2)));
        }
    }

    private static double relative(Tensor actual, Tensor expected) {
        return Tensors.maxAbsDiff(actual, expected) / Tensors.maxAbs(expected);
    }

    @Test
    void rightAfterAttachTheModelsComputeExactlyAsBefore() {
        try (PointerScope scope = new PointerScope()) {
            Tensor baseUnet = unetOut();
            Tensor baseText = textOut();
            try (LoRATraining lora = LoRATraining.attach(unet, text, 4, 4, 1)) {
                assertTrue(unetOut().equal(baseUnet), "UNet output changed by zero-initialised adapters");
                assertTrue(textOut().equal(baseText), "text encoder output changed by zero-initialised adapters");
                // PEFT's gaussian init: A ~ N(0, 1/r^2) float32 leaves, B = 0
                Tensor a = lora.parameters().get("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight");
                Tensor b = lora.parameters().get("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.up.weight");
                assertEquals(List.of(4L, 32L), List.of(a.size(0), a.size(1)));
                assertEquals(List.of(32L, 4L), List.of(b.size(0), b.size(1)));
                assertEquals(0.0, Tensors.maxAbs(b));
                double std = a.std().item_double();
                assertTrue(std > 0.15 && std < 0.35, "std of A " + std + ", expected about 1/r = 0.25");
                for (Tensor p : lora.parameters().values()) {
                    assertEquals(ScalarType.Float.value, Tensors.dtype(p).value);
                    assertTrue(p.requires_grad() && p.is_leaf());
                }
            }
        }
    }

    @Test
    void theUpdateIsTheHandMergedWeightAndTheSavedFileLoadsToTheSame() {
        Path file = dir.resolve("pytorch_lora_weights.safetensors");
        try (PointerScope scope = new PointerScope()) {
            Tensor baseUnet = unetOut();
            Tensor baseText = textOut();
            Tensor loraUnet;
            Tensor loraText;
            Map<String, Tensor> factors = new LinkedHashMap<>();
            // alpha != rank: the scale 8/4 must be applied, and folded into the file's up matrices
            try (LoRATraining lora = LoRATraining.attach(unet, text, 4, 8, 2)) {
                randomize(lora, 3);
                loraUnet = unetOut();
                loraText = textOut();
                lora.parameters().forEach((k, v) -> factors.put(k, v.detach().clone()));
                lora.save(file);
            }
            assertTrue(relative(loraUnet, baseUnet) > 1e-2, "the adapters should move the UNet output");
            assertTrue(relative(loraText, baseText) > 1e-2, "the adapters should move the text encoder output");

            // 1. W + (alpha/r) B A written into the weights by hand
            Map<String, Tensor> unetWeights = ModuleTensors.namedTensors(unet);
            Map<String, Tensor> textWeights = ModuleTensors.namedTensors(text);
            Map<Tensor, Tensor> originals = new LinkedHashMap<>();
            Pattern down = Pattern.compile("(unet|text_encoder)\\.(.*)\\.(lora|lora_linear_layer)\\.down\\.weight");
            try (NoGradGuard noGrad = new NoGradGuard()) {
                for (var e : factors.entrySet()) {
                    Matcher m = down.matcher(e.getKey());
                    if (!m.matches()) continue;
                    Tensor up = factors.get(e.getKey().replace(".down.weight", ".up.weight"));
                    Tensor w = (m.group(1).equals("unet") ? unetWeights : textWeights).get(m.group(2) + ".weight");
                    originals.put(w, w.clone());
                    w.add_(up.mm(e.getValue()).mul(new Scalar(8.0 / 4)));
                }
            }
            assertEquals(factors.size() / 2, originals.size());
            Tensor handUnet = unetOut();
            Tensor handText = textOut();
            try (NoGradGuard noGrad = new NoGradGuard()) {
                originals.forEach(Tensor::copy_);
            }
            double du = relative(loraUnet, handUnet);
            double dt = relative(loraText, handText);
            System.out.printf("adapters vs hand-merged weights: UNet %.2e, text encoder %.2e (relative max diff)%n", du, dt);
            assertTrue(du < 1e-5, "UNet " + du);
            assertTrue(dt < 1e-5, "text encoder " + dt);
            assertTrue(unetOut().equal(baseUnet), "weights restored");

            // 2. the base models plus the saved file, through the reader used at inference
            Map<String, long[]> unetShapes = new LinkedHashMap<>();
            Map<String, long[]> textShapes = new LinkedHashMap<>();
            unetWeights.forEach((k, v) -> unetShapes.put(k, Tensors.shape(v)));
            textWeights.forEach((k, v) -> textShapes.put(k, Tensors.shape(v)));
            LoRAKeyMap.Index index = new LoRAKeyMap.Index(unetShapes.keySet(), textShapes.keySet());
            try (LoRAWeights weights = LoRAWeights.read(file, index,
                    Map.of(Component.UNET, unetShapes, Component.TEXT_ENCODER, textShapes))) {
                assertEquals(factors.size() / 2, weights.modules().size());
                try (LoRAMerge merge = LoRAMerge.apply(List.of(new LoRAMerge.Applied(weights, 1.0, 1.0)),
                        Map.of(Component.UNET, unetWeights, Component.TEXT_ENCODER, textWeights))) {
                    double fu = relative(unetOut(), loraUnet);
                    double ft = relative(textOut(), loraText);
                    System.out.printf("adapters vs saved file merged by LoRAMerge: UNet %.2e, text encoder %.2e%n", fu, ft);
                    assertTrue(fu < 1e-5, "UNet " + fu);
                    assertTrue(ft < 1e-5, "text encoder " + ft);
                }
            }
            assertTrue(unetOut().equal(baseUnet));
            assertTrue(textOut().equal(baseText));
        }
    }

    @Test
    void thePipelineWithTheSavedFileDrawsWhatItDrawsWithTheAdaptersAttached() {
        Path file = dir.resolve("pytorch_lora_weights.safetensors");
        StableDiffusionPipeline pipe = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(),
                PipelineOptions.defaults());
        try (PointerScope scope = new PointerScope()) {
            GenerationRequest.Builder request = GenerationRequest.builder("a red circle").steps(3).guidanceScale(6)
                    .sampler("Euler").seed(7);
            Tensor base = pipe.generate(request.build()).finalLatents();
            Tensor attached;
            try (LoRATraining lora = LoRATraining.attach(pipe.unet(), pipe.textEncoder(), 4, 4, 15)) {
                randomize(lora, 16);
                attached = pipe.generate(request.build()).finalLatents(); // e.g. validation images during training
                lora.save(file);
            }
            Tensor fromFile = pipe.generate(request.lora(LoRASpec.file(file, 1.0)).build()).finalLatents();
            double effect = relative(attached, base);
            double d = relative(fromFile, attached);
            System.out.printf("pipeline --lora FILE vs adapters attached: relative %.2e (LoRA effect %.2e)%n", d, effect);
            assertTrue(effect > 1e-2, "the LoRA should change the image; effect " + effect);
            assertTrue(d < 1e-4, "relative " + d);
        } finally {
            pipe.close();
        }
    }

    @Test
    void closeRestoresTheExactBaseOutputs() {
        try (PointerScope scope = new PointerScope()) {
            Tensor baseUnet = unetOut();
            Tensor baseText = textOut();
            LoRATraining lora = LoRATraining.attach(unet, text, 2, 2, 4);
            randomize(lora, 5);
            assertFalse(unetOut().equal(baseUnet));
            assertFalse(textOut().equal(baseText));
            lora.close();
            assertTrue(unetOut().equal(baseUnet), "UNet after close");
            assertTrue(textOut().equal(baseText), "text encoder after close");
            lora.close(); // idempotent
            assertThrows(IllegalStateException.class, lora::parameters);
            // and the layers take a new set of adapters
            try (LoRATraining again = LoRATraining.attach(unet, null, 2, 2, 4)) {
                assertTrue(unetOut().equal(baseUnet));
            }
        }
    }

    @Test
    void theSavedKeysAreThoseDiffusersWrites() {
        Path file = dir.resolve("pytorch_lora_weights.safetensors");
        // Derived from the models by the rule verified in diffusers (see LoRATraining): every
        // attn1/attn2 to_q/to_k/to_v/to_out.0 of the UNet, every self_attn q/k/v/out_proj of CLIP.
        TreeSet<String> expected = new TreeSet<>();
        Pattern unetTarget = Pattern.compile("(.*\\.attn[12]\\.(to_q|to_k|to_v|to_out\\.0))\\.weight");
        Pattern textTarget = Pattern.compile("(.*\\.self_attn\\.(q_proj|k_proj|v_proj|out_proj))\\.weight");
        try (PointerScope scope = new PointerScope()) {
            for (String k : ModuleTensors.namedTensors(unet).keySet()) {
                Matcher m = unetTarget.matcher(k);
                if (m.matches()) {
                    expected.add("unet." + m.group(1) + ".lora.down.weight");
                    expected.add("unet." + m.group(1) + ".lora.up.weight");
                }
            }
            for (String k : ModuleTensors.namedTensors(text).keySet()) {
                Matcher m = textTarget.matcher(k);
                if (m.matches()) {
                    expected.add("text_encoder." + m.group(1) + ".lora_linear_layer.down.weight");
                    expected.add("text_encoder." + m.group(1) + ".lora_linear_layer.up.weight");
                }
            }
        }
        // 11 transformer blocks x 2 attentions x 4 projections x 2 factors; 5 CLIP layers x 4 x 2
        assertEquals(176 + 40, expected.size());
        assertTrue(expected.containsAll(List.of(
                "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight",
                "unet.mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0.lora.up.weight",
                "unet.up_blocks.2.attentions.2.transformer_blocks.0.attn2.to_k.lora.down.weight",
                "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.down.weight",
                "text_encoder.text_model.encoder.layers.4.self_attn.out_proj.lora_linear_layer.up.weight")));

        try (PointerScope scope = new PointerScope(); LoRATraining lora = LoRATraining.attach(unet, text, 4, 4, 6)) {
            randomize(lora, 7);
            assertEquals(expected, new TreeSet<>(lora.parameters().keySet()));
            lora.save(file);
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertEquals(expected, new TreeSet<>(f.names()));
                assertEquals(Map.of("format", "pt"), f.metadata());
                for (String k : f.names()) {
                    assertEquals(DType.F32, f.info(k).dtype(), k);
                    // alpha = rank: the factors are stored as they are
                    assertTrue(f.load(k).equal(lora.parameters().get(k)), k);
                }
            }
        }
        try (PointerScope scope = new PointerScope(); LoRATraining unetOnly = LoRATraining.attach(unet, null, 4, 4, 6)) {
            assertEquals(176, unetOnly.parameters().size());
            assertTrue(unetOnly.parameters().keySet().stream().allMatch(k -> k.startsWith("unet.")));
        }
    }

    @Test
    void gradientsReachOnlyTheAdaptersAndAFewAdamWStepsLowerTheLoss() {
        try (PointerScope scope = new PointerScope(); LoRATraining lora = LoRATraining.attach(unet, text, 4, 4, 8)) {
            // 1. one backward with non-zero factors: every adapter gets a gradient, no base weight does
            randomize(lora, 9);
            loss().backward();
            for (var e : lora.parameters().entrySet()) {
                Tensor g = e.getValue().grad();
                assertTrue(g.defined() && Tensors.maxAbs(g) > 0, "no gradient for " + e.getKey());
                g.zero_();
            }
            ModuleTensors.namedTensors(unet).forEach((k, t) -> assertFalse(t.grad().defined(), "unet." + k + " got a gradient"));
            ModuleTensors.namedTensors(text).forEach((k, t) -> assertFalse(t.grad().defined(), "text_encoder." + k + " got a gradient"));
        }
        // 2. training from the zero-initialised start, on a fixed batch
        try (LoRATraining lora = LoRATraining.attach(unet, text, 4, 4, 10)) {
            TrainingConfig c = new TrainingConfig(8, 1e-2, 0, TrainingConfig.LrSchedule.CONSTANT, 1, 1.0, 1e-2, 0, false, 0, 0);
            double[] first = {Double.NaN};
            try (Trainer trainer = new Trainer(c, lora.parameters(), null)) {
                double last = trainer.run((step, micro, rng) -> loss(), (step, total, l, lr) -> {
                    if (step == 0) first[0] = l;
                });
                System.out.printf("LoRA training, 8 AdamW steps at lr 1e-2: loss %.5f -> %.5f%n", first[0], last);
                assertTrue(last < 0.97 * first[0], "loss " + first[0] + " -> " + last);
            }
        }
    }

    @Test
    void underBf16AutocastTheLossIsCloseToFloat32s() {
        try (PointerScope scope = new PointerScope(); LoRATraining lora = LoRATraining.attach(unet, text, 4, 4, 11)) {
            randomize(lora, 12);
            double fp32;
            try (NoGradGuard noGrad = new NoGradGuard()) {
                fp32 = loss().item_double();
            }
            Tensor bf16Loss;
            torch.set_autocast_enabled(DeviceType.CPU, true);
            torch.set_autocast_dtype(DeviceType.CPU, ScalarType.BFloat16);
            try {
                bf16Loss = loss();
            } finally {
                torch.set_autocast_enabled(DeviceType.CPU, false);
            }
            double bf16 = bf16Loss.item_double();
            System.out.printf("loss fp32 %.6f, bf16 autocast %.6f (relative %.2e)%n", fp32, bf16, Math.abs(bf16 - fp32) / fp32);
            assertTrue(Math.abs(bf16 - fp32) < jdiffusion.Tolerances.BF16_NETWORK * fp32, "fp32 " + fp32 + " vs bf16 " + bf16);
            // the backward (outside autocast, as the Trainer runs it) gives float32 gradients to the adapters
            bf16Loss.backward();
            for (var e : lora.parameters().entrySet()) {
                Tensor g = e.getValue().grad();
                assertTrue(g.defined(), e.getKey());
                assertEquals(ScalarType.Float.value, Tensors.dtype(g).value, e.getKey());
                assertTrue(Double.isFinite(Tensors.maxAbs(g)));
                g.zero_();
            }
        }
    }

    @Test
    void bf16BaseWeightsWithoutAutocastTakeFloat32Adapters() {
        UNet2DConditionModel bf16Unet = UNet2DConditionModel.load(Golden.model("sd1-tiny-pipeline").resolve("unet"),
                ScalarType.BFloat16, Tensors.CPU);
        try (PointerScope scope = new PointerScope();
             LoRATraining lora = LoRATraining.attach(unet, null, 4, 4, 13);
             LoRATraining bf16Lora = LoRATraining.attach(bf16Unet, null, 4, 4, 13)) {
            Tensor base = unetOut();
            randomize(lora, 14);
            randomize(bf16Lora, 14);
            Tensor expected = unetOut();
            double effect = relative(base, expected);
            Tensor actual;
            try (NoGradGuard noGrad = new NoGradGuard()) {
                actual = bf16Unet.forward(sample.to(ScalarType.BFloat16), timestep, context.to(ScalarType.BFloat16));
            }
            assertEquals(ScalarType.BFloat16.value, Tensors.dtype(actual).value, "the output keeps the weights' dtype");
            double d = relative(actual.to(ScalarType.Float), expected);
            System.out.printf("bf16 weights + fp32 adapters vs fp32: relative max diff %.2e (the adapters move the output by %.2e)%n",
                    d, effect);
            assertTrue(d < jdiffusion.Tolerances.BF16_NETWORK && d < effect / 4, "relative " + d + ", adapter effect " + effect);
        } finally {
            bf16Unet.close();
        }
    }


    @Test
    void badUseIsRefusedWithAMessage() {
        JDiffusionException rank = assertThrows(JDiffusionException.class, () -> LoRATraining.attach(unet, null, 0, 4, 1));
        assertTrue(rank.getMessage().contains("rank"), rank.getMessage());
        assertThrows(JDiffusionException.class, () -> LoRATraining.attach(unet, null, 4, Double.NaN, 1));
        assertThrows(JDiffusionException.class, () -> LoRATraining.attach(null, text, 4, 4, 1));
        try (LoRATraining lora = LoRATraining.attach(unet, null, 4, 4, 1)) {
            JDiffusionException twice = assertThrows(JDiffusionException.class, () -> LoRATraining.attach(unet, text, 4, 4, 1));
            assertTrue(twice.getMessage().contains("already has an adapter"), twice.getMessage());
            JDiffusionException pt = assertThrows(JDiffusionException.class, () -> lora.save(dir.resolve("lora.pt")));
            assertTrue(pt.getMessage().contains(".safetensors"), pt.getMessage());
        }
        // the refused attach put nothing on the text encoder: both models take adapters again
        try (LoRATraining lora = LoRATraining.attach(unet, text, 4, 4, 1)) {
            assertEquals(216, lora.parameters().size());
        }
    }
}
