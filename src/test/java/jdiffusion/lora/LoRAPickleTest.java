package jdiffusion.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.cli.CliRunner;
import jdiffusion.image.Images;
import jdiffusion.io.PickleBytes;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.io.TorchSave;
import jdiffusion.io.TorchZip;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.LoRAKeyMap.Layout;
import jdiffusion.weights.LoRAKeyMap.Target;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRAs saved with torch.save (kohya's .pt, diffusers' older pytorch_lora_weights.bin) on the golden
 * tiny pipeline: they map and merge exactly as the same LoRA in safetensors, are found by name, and
 * a pickle that would run code is refused before anything is touched.
 */
class LoRAPickleTest {
    private static final String ATTN = "down_blocks.0.attentions.0.";
    private static final String Q = ATTN + "transformer_blocks.0.attn1.to_q";             // Linear [32, 32]
    private static final String CONV = "down_blocks.0.resnets.0.conv1";                   // 3x3 conv [32, 32, 3, 3]
    private static final String TE_Q = "text_model.encoder.layers.0.self_attn.q_proj";    // Linear [32, 32]

    private static final TestLoRA Q_A = TestLoRA.linear(Component.UNET, Q, 31, 32, 32, 4, 2.0);
    private static final TestLoRA TE_A = TestLoRA.linear(Component.TEXT_ENCODER, TE_Q, 32, 32, 32, 4, 8.0);
    private static final TestLoRA CONV_A = TestLoRA.random(Component.UNET, CONV, 33, new long[] {2, 32, 3, 3},
            new long[] {32, 2, 1, 1}, 1.0);

    private static StableDiffusionPipeline pipe;

    @TempDir
    Path dir;

    /** Loaded once, outside any PointerScope. */
    @BeforeAll
    static void load() {
        pipe = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(), PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        if (pipe != null) pipe.close();
    }

    private static Map<Component, Map<String, Tensor>> live() {
        return Map.of(Component.UNET, ModuleTensors.namedTensors(pipe.unet()),
                Component.TEXT_ENCODER, ModuleTensors.namedTensors(pipe.textEncoder()));
    }

    private static GenerationRequest.Builder request(String prompt) {
        return GenerationRequest.builder(prompt).steps(3).guidanceScale(6).sampler("Euler").seed(7);
    }

    /** The weights {@code lora} touches after merging it at 0.8 (copies; the merge is undone on return). */
    private static Map<Target, Tensor> merged(LoRAWeights lora) {
        Map<Target, Tensor> out = new LinkedHashMap<>();
        try (LoRAMerge m = LoRAMerge.apply(List.of(new LoRAMerge.Applied(lora, 0.8, 0.8)), live())) {
            assertEquals(lora.modules().size(), m.size());
            for (LoRAWeights.Module module : lora.modules()) {
                Target t = module.target();
                out.put(t, live().get(t.component()).get(t.weight()).detach().clone());
            }
        }
        return out;
    }

    private static void assertBitIdentical(Tensor a, Tensor b, String what) {
        assertEquals(Tensors.dtype(a).value, Tensors.dtype(b).value, what);
        assertArrayEquals(Tensors.shape(a), Tensors.shape(b), what);
        double d = Tensors.maxAbsDiff(a, b);
        System.out.printf("%-70s max|diff| = %.3e%n", what, d);
        assertEquals(0.0, d, what);
    }

    /** Reads both files and checks that they give the same modules and the same merged weights. */
    private static void assertSameLoRA(Path safetensors, Path pickle, Layout layout, int modules) {
        try (PointerScope scope = new PointerScope();
             LoRAWeights expected = pipe.readLoRA(safetensors);
             LoRAWeights actual = pipe.readLoRA(pickle)) {
            String what = pickle.getFileName().toString();
            assertEquals(layout, actual.layout(), what);
            assertEquals(modules, actual.modules().size(), what);
            assertEquals(expected.modules().size(), actual.modules().size(), what);
            for (int i = 0; i < modules; i++) {
                LoRAWeights.Module e = expected.modules().get(i);
                LoRAWeights.Module a = actual.modules().get(i);
                assertEquals(e.target(), a.target(), what);
                assertEquals(e.alpha(), a.alpha(), what);
                assertArrayEquals(e.targetShape(), a.targetShape(), what);
                assertBitIdentical(e.down(), a.down(), what + " " + e.target().weight() + " down");
                assertBitIdentical(e.up(), a.up(), what + " " + e.target().weight() + " up");
            }
            Map<Target, Tensor> before = new LinkedHashMap<>();
            for (LoRAWeights.Module m : expected.modules()) {
                before.put(m.target(), live().get(m.target().component()).get(m.target().weight()).detach().clone());
            }
            Map<Target, Tensor> fromSafetensors = merged(expected);
            Map<Target, Tensor> fromPickle = merged(actual);
            assertEquals(fromSafetensors.keySet(), fromPickle.keySet());
            for (Target t : fromSafetensors.keySet()) {
                assertBitIdentical(fromSafetensors.get(t), fromPickle.get(t), what + " merged " + t.weight());
                assertTrue(Tensors.maxAbsDiff(fromPickle.get(t), before.get(t)) > 1e-3, "the merge changes " + t.weight());
                assertEquals(0.0, Tensors.maxAbsDiff(before.get(t), live().get(t.component()).get(t.weight())),
                        "restored after the merge: " + t.weight());
            }
        }
    }

    @Test
    void picklesInEveryLayoutMergeAsTheirSafetensorsTwins() throws IOException {
        for (TestLoRA.Layout layout : TestLoRA.Layout.values()) {
            List<TestLoRA> modules = switch (layout) {
                case KOHYA, PEFT -> List.of(Q_A, TE_A, CONV_A);
                case KOHYA_LDM, DIFFUSERS_PROCESSOR -> List.of(Q_A); // spellings of attention modules only
            };
            Layout expected = layout == TestLoRA.Layout.KOHYA || layout == TestLoRA.Layout.KOHYA_LDM ? Layout.KOHYA : Layout.DIFFUSERS;
            Path safetensors = TestLoRA.write(dir.resolve(layout + ".safetensors"), layout, modules);
            String name = layout == TestLoRA.Layout.DIFFUSERS_PROCESSOR ? "pytorch_lora_weights.bin" : layout + ".pt";
            Path pickle = TestLoRA.writePickle(dir.resolve(name), layout, modules);
            assertSameLoRA(safetensors, pickle, expected, modules.size());
        }
        // kohya saves in half precision (save_precision fp16), and old files use the legacy format
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> half = new LinkedHashMap<>();
            TestLoRA.tensors(TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A, CONV_A)).forEach((k, v) -> half.put(k, v.to(ScalarType.Half)));
            Path safetensors = dir.resolve("half.safetensors");
            SafetensorsWriter.write(safetensors, half, Map.of());
            assertSameLoRA(safetensors, TorchSave.zip(dir.resolve("half.ckpt"), new TorchSave.Ordered(half)), Layout.KOHYA, 3);
            assertSameLoRA(safetensors, TorchSave.legacy(dir.resolve("half-legacy.pt"), new TorchSave.Ordered(half)), Layout.KOHYA, 3);
        }
    }

    @Test
    void aPickleThatWouldRunCodeIsRefusedAndTouchesNothing() throws IOException {
        Path marker = dir.resolve("pwned");
        String stem = "lora_unet_" + Q.replace('.', '_');
        Map<String, byte[]> storages = new LinkedHashMap<>();
        byte[] good;
        try (PointerScope scope = new PointerScope()) {
            good = TorchSave.pickle(new TorchSave.Ordered(Map.of(stem + ".lora_down.weight", Q_A.down())), false, storages);
        }
        // the same state dict with one more entry: os.system('touch pwned')
        byte[] evil = Arrays.copyOf(good, good.length - 2); // drop SETITEMS and STOP
        evil = concat(evil, PickleBytes.protocol2().str(stem + ".alpha").global("os", "system").str("touch " + marker)
                .op(0x85).reduce().setItems().stop().bytes(), 2);
        Path file = TorchZip.write(dir.resolve("evil.pt"), evil, storages);
        Map<String, Tensor> before = new LinkedHashMap<>();
        try (PointerScope scope = new PointerScope()) {
            live().forEach((c, m) -> m.forEach((k, v) -> before.put(c + "/" + k, v.detach().clone())));
            var e = assertThrows(JDiffusionException.class, () -> pipe.readLoRA(file).close());
            System.out.println("error: " + e.getMessage());
            assertTrue(e.getMessage().startsWith("LoRA " + file) && e.getMessage().contains("calls os.system; refused")
                    && e.getMessage().contains(".safetensors"), e.getMessage());
            var g = assertThrows(JDiffusionException.class,
                    () -> pipe.generate(request("a red <lora:evil:0.8>circle").loraDir(dir).build()));
            assertTrue(g.getMessage().contains("calls os.system"), g.getMessage());
            live().forEach((c, m) -> m.forEach((k, v) -> assertEquals(0.0, Tensors.maxAbsDiff(before.get(c + "/" + k), v), k)));
        }
        assertFalse(Files.exists(marker), "nothing in the pickle may run");
    }

    /** {@code head} followed by {@code tail} without its first {@code skip} bytes (the PROTO opcode). */
    private static byte[] concat(byte[] head, byte[] tail, int skip) {
        byte[] out = Arrays.copyOf(head, head.length + tail.length - skip);
        System.arraycopy(tail, skip, out, head.length, tail.length - skip);
        return out;
    }

    @Test
    void truncatedAndForeignFilesGiveClearErrors() throws IOException {
        Path whole = TestLoRA.writePickle(dir.resolve("whole.pt"), TestLoRA.Layout.KOHYA, List.of(Q_A));
        byte[] bytes = Files.readAllBytes(whole);
        Path cut = Files.write(dir.resolve("cut.pt"), Arrays.copyOf(bytes, bytes.length - 100));
        Path text = Files.writeString(dir.resolve("old.pt"), "x");
        Map<Path, String> cases = Map.of(cut, "damaged zip archive", text, "neither a safetensors file nor a PyTorch pickle");
        for (Map.Entry<Path, String> c : cases.entrySet()) {
            var e = assertThrows(JDiffusionException.class, () -> pipe.readLoRA(c.getKey()).close());
            System.out.println("error: " + e.getMessage());
            assertTrue(e.getMessage().startsWith("LoRA " + c.getKey()) && e.getMessage().contains(c.getValue()), e.getMessage());
        }
        // A pickle of the wrong model is checked as strictly as safetensors: one unknown entry fails the file.
        TestLoRA extra = TestLoRA.linear(Component.UNET, ATTN + "transformer_blocks.1.attn1.to_q", 1, 32, 32, 4, 4);
        Path unknown = TestLoRA.writePickle(dir.resolve("unknown.pt"), TestLoRA.Layout.KOHYA, List.of(Q_A, extra));
        var e = assertThrows(JDiffusionException.class, () -> pipe.readLoRA(unknown).close());
        assertTrue(e.getMessage().contains("3 of 6 entries name no weight of this model"), e.getMessage());
    }

    @Test
    void namesFindPicklesAfterSafetensors() throws Exception {
        Path sub = Files.createDirectories(dir.resolve("styles"));
        // the same name as safetensors in a subfolder and as a pickle at the top: safetensors first
        Path preferred = TestLoRA.write(sub.resolve("pref.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A));
        TestLoRA.writePickle(dir.resolve("pref.pt"), TestLoRA.Layout.KOHYA, List.of(Q_A));
        assertEquals(preferred, LoRAFiles.find(dir, "pref"));
        for (String ext : List.of(".pt", ".ckpt", ".bin")) {
            Path p = TestLoRA.writePickle(sub.resolve("only" + ext.substring(1) + ext), TestLoRA.Layout.KOHYA, List.of(Q_A));
            assertEquals(p, LoRAFiles.find(dir, "only" + ext.substring(1)));
        }
        // --lora FILE names the LoRA by the file's stem, as A1111 does, whatever the extension
        assertEquals("k", LoRASpec.file(Path.of("x/k.pt"), 1).displayName());
        assertEquals("k", LoRASpec.file(Path.of("x/k.safetensors"), 1).displayName());
        var none = assertThrows(JDiffusionException.class, () -> LoRAFiles.find(dir, "nothing"));
        assertTrue(none.getMessage().contains(".safetensors,.pt,.ckpt,.bin"), none.getMessage());

        // a prompt tag and A1111's hash of a pickle: the SHA-256 of the whole file
        Path pickle = TestLoRA.writePickle(dir.resolve("myStyle.pt"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        Path twin = TestLoRA.write(sub.resolve("twin.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        try (PointerScope scope = new PointerScope()) {
            GenerationResult tagged = pipe.generate(request("a red <lora:myStyle:0.5>circle").loraDir(dir).build());
            GenerationResult given = pipe.generate(request("a red circle").lora(LoRASpec.file(twin, 0.5)).build());
            assertBitIdentical(tagged.finalLatents(), given.finalLatents(), "<lora:myStyle:0.5> (.pt) vs the safetensors twin");
            String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(pickle)))
                    .substring(0, 12);
            assertEquals("myStyle: " + hash, tagged.parameters().getFirst().get("Lora hashes"));
        }
    }

    @Test
    void theCliTakesPickleLoRAsByFileAndByName() throws IOException {
        Path twinDir = Files.createDirectories(dir.resolve("twin"));
        Path safetensors = TestLoRA.write(twinDir.resolve("k.safetensors"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        Path pickle = TestLoRA.writePickle(dir.resolve("k.pt"), TestLoRA.Layout.KOHYA, List.of(Q_A, TE_A));
        List<List<String>> variants = List.of(
                List.of("--prompt", "a red circle", "--lora", safetensors + ":0.5"),
                List.of("--prompt", "a red circle", "--lora", pickle + ":0.5"),
                List.of("--prompt", "a red circle", "--lora", "k:0.5", "--lora-dir", dir.toString()),
                List.of("--prompt", "a red circle <lora:k:0.5>", "--lora-dir", dir.toString()));
        List<int[]> images = new ArrayList<>();
        for (int i = 0; i < variants.size(); i++) {
            Path png = dir.resolve(i + ".png");
            List<String> args = new ArrayList<>(List.of("txt2img", "--model", Golden.model("sd1-tiny-pipeline").toString(),
                    "--quiet", "--steps", "2", "--seed", "1", "--out", png.toString()));
            args.addAll(variants.get(i));
            CliRunner r = CliRunner.run(args.toArray(String[]::new));
            assertEquals(0, r.exitCode(), variants.get(i) + ": " + r.err());
            var image = Images.read(png);
            images.add(image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth()));
        }
        for (int i = 1; i < images.size(); i++) {
            assertArrayEquals(images.getFirst(), images.get(i), variants.get(i) + " vs the safetensors file");
        }
    }
}
