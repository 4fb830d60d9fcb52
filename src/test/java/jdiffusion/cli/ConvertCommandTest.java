package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DType;
import jdiffusion.io.ModelFolder;
import jdiffusion.io.PickleBytes;
import jdiffusion.io.TorchZip;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code jdiffusion convert} in both directions, through the CLI as a user runs it. */
class ConvertCommandTest {
    @TempDir
    Path dir;

    private static byte[] bytes(Tensor t) {
        Tensor c = t.contiguous();
        return MemorySegment.ofAddress(c.data_ptr().address()).reinterpret(c.numel() * c.element_size()).toArray(ValueLayout.JAVA_BYTE);
    }

    private static void assertSameWeights(Path expectedDir, Path actualDir, java.util.function.UnaryOperator<String> keyMap) {
        try (StateDict expected = StateDict.open(ModelFolder.weightFiles(expectedDir, null), keyMap);
             StateDict actual = StateDict.open(ModelFolder.weightFiles(actualDir, null), KeyMap.identity());
             PointerScope scope = new PointerScope()) {
            assertEquals(new TreeSet<>(expected.keys()), new TreeSet<>(actual.keys()), actualDir.toString());
            for (String k : expected.keys()) assertArrayEquals(bytes(expected.view(k)), bytes(actual.view(k)), actualDir + ": " + k);
        }
    }

    @Test
    void pipelineFolderToSingleFileAndBack() throws IOException {
        Path folder = Golden.model("sd1-tiny-pipeline");
        Path file = dir.resolve("tiny.safetensors");
        CliRunner r = CliRunner.run("convert", "--to", "single-file", folder.toString(), file.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("unet") && r.out().contains("text_encoder"), r.out());

        Path out = dir.resolve("back");
        r = CliRunner.run("convert", "--to", "diffusers", file.toString(), out.toString(), "--tokenizer", folder.resolve("tokenizer").toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("SD 1.x text-to-image, epsilon"), r.out());
        assertEquals("", r.err());
        for (String c : List.of("unet", "vae")) assertSameWeights(folder.resolve(c), out.resolve(c), KeyMap.identity());
        assertSameWeights(folder.resolve("text_encoder"), out.resolve("text_encoder"), KeyMap.clipText());
        for (String f : List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")) {
            assertArrayEquals(Files.readAllBytes(folder.resolve("tokenizer").resolve(f)), Files.readAllBytes(out.resolve("tokenizer").resolve(f)), f);
        }
        assertEquals(ModelFolder.readJson(folder.resolve("unet/config.json")), ModelFolder.readJson(out.resolve("unet/config.json")));
        assertEquals(ModelFolder.readJson(folder.resolve("vae/config.json")), ModelFolder.readJson(out.resolve("vae/config.json")));
        assertEquals(ModelFolder.readJson(folder.resolve("scheduler/scheduler_config.json")),
                ModelFolder.readJson(out.resolve("scheduler/scheduler_config.json")));
        ModelFolder model = ModelFolder.open(out);
        assertEquals("StableDiffusionPipeline", model.pipelineClass());
        assertEquals(new TreeSet<>(List.of("scheduler", "text_encoder", "tokenizer", "unet", "vae")), new TreeSet<>(model.components().keySet()));
        CLIPTextModel te = CLIPTextModel.load(out.resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
        te.close();
        try (Stream<Path> siblings = Files.list(dir)) {
            assertEquals(List.of(), siblings.filter(p -> p.getFileName().toString().startsWith(".")).toList(), "no temporary left behind");
        }
    }

    @Test
    void withoutATokenizerSaysWhatToAdd() {
        Path file = dir.resolve("sd2.safetensors");
        assertEquals(0, CliRunner.run("convert", "--to", "single-file", Golden.model("sd2-tiny-pipeline").toString(), file.toString()).exitCode());
        Path out = dir.resolve("sd2");
        CliRunner r = CliRunner.run("convert", "--to", "diffusers", file.toString(), out.toString(), "--dtype", "fp16");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("SD 2.x text-to-image, v_prediction, OpenCLIP text encoder (5 layers)"), r.out());
        assertTrue(r.err().contains("vocab.json and merges.txt") && r.err().contains("--tokenizer"), r.err());
        // SD 2.x pads with "!" (id 0), as the stabilityai repos do.
        assertEquals("!", ModelFolder.readJson(out.resolve("tokenizer/tokenizer_config.json")).get("pad_token").asText());
        assertFalse(Files.exists(out.resolve("tokenizer/vocab.json")));
        assertEquals("float16", ModelFolder.readJson(out.resolve("text_encoder/config.json")).get("torch_dtype").asText());
        try (StateDict unet = StateDict.open(out.resolve("unet/diffusion_pytorch_model.safetensors"))) {
            assertTrue(unet.keys().stream().allMatch(k -> unet.dtype(k) == DType.F16));
        }
        assertEquals("v_prediction", ModelFolder.readJson(out.resolve("scheduler/scheduler_config.json")).get("prediction_type").asText());
    }

    @Test
    void unetFolderRoundTripsAsAUnetFolder() {
        Path folder = Golden.model("unet-sd2-depth");
        Path file = dir.resolve("depth.safetensors");
        assertEquals(0, CliRunner.run("convert", "--to", "single-file", folder.toString(), file.toString()).exitCode());
        Path out = dir.resolve("depth-unet");
        CliRunner r = CliRunner.run("convert", "--to", "diffusers", file.toString(), out.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("SD 2.x depth"), r.out());
        assertSameWeights(folder, out, KeyMap.identity());
        assertEquals(ModelFolder.readJson(folder.resolve("config.json")), ModelFolder.readJson(out.resolve("config.json")));
    }

    @Test
    void neverOverwritesAndExplainsBadArguments() throws IOException {
        Path existing = Files.writeString(dir.resolve("taken.safetensors"), "x");
        CliRunner r = CliRunner.run("convert", "--to", "single-file", Golden.model("sd1-tiny-pipeline").toString(), existing.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("already exists"), r.err());
        assertEquals("x", Files.readString(existing));
        r = CliRunner.run("convert", "--to", "onnx", "a", dir.resolve("b").toString());
        assertTrue(r.err().contains("use single-file or diffusers"), r.err());
        r = CliRunner.run("convert", "--to", "single-file", Golden.model("sd1-tiny-pipeline").toString(), dir.resolve("x.ckpt").toString());
        assertTrue(r.err().contains("safetensors only"), r.err());
        r = CliRunner.run("convert", "--to", "diffusers", dir.resolve("missing.ckpt").toString(), dir.resolve("out").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("file not found"), r.err());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    @Test
    void refusesAMaliciousCheckpoint() throws IOException {
        byte[] evil = PickleBytes.protocol2().emptyDict().mark().str("state_dict")
                .global("builtins", "exec").str("import os").op(0x85).reduce().setItems().stop().bytes();
        Path file = TorchZip.write(dir.resolve("evil.ckpt"), evil, Map.of());
        CliRunner r = CliRunner.run("convert", "--to", "diffusers", file.toString(), dir.resolve("out").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("a pickle can run code: this one calls builtins.exec; refused"), r.err());
        assertFalse(Files.exists(dir.resolve("out")));
    }

    /** ModelFolder's pickle refusal points at convert, and convert's output loads. */
    @Test
    void convertsAFolderOfPickleWeights() throws IOException {
        Path model = Files.createDirectories(dir.resolve("old-model/unet"));
        Files.writeString(model.getParent().resolve("model_index.json"), "{\"_class_name\": \"StableDiffusionPipeline\", "
                + "\"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}");
        Files.writeString(model.resolve("config.json"), "{\"_class_name\": \"UNet2DConditionModel\"}");
        byte[] pickle = PickleBytes.protocol2().orderedDict().mark()
                .str("conv_in.weight").tensor("FloatStorage", "0", 4, 0, new long[] {2, 2}, new long[] {2, 1})
                .setItems().stop().bytes();
        java.nio.ByteBuffer data = java.nio.ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(2).putFloat(3).putFloat(4);
        TorchZip.write(model.resolve("diffusion_pytorch_model.bin"), pickle, Map.of("0", data.array()));
        var e = assertThrows(JDiffusionException.class, () -> ModelFolder.weightFiles(model, null));
        assertTrue(e.getMessage().contains("jdiffusion convert --to diffusers"), e.getMessage());

        Path out = dir.resolve("new-model");
        CliRunner r = CliRunner.run("convert", "--to", "diffusers", model.getParent().toString(), out.toString());
        assertEquals(0, r.exitCode(), r.err());
        List<Path> weights = ModelFolder.weightFiles(out.resolve("unet"), null);
        assertEquals(List.of(out.resolve("unet/diffusion_pytorch_model.safetensors")), weights);
        try (StateDict sd = StateDict.open(weights.getFirst()); PointerScope scope = new PointerScope()) {
            assertArrayEquals(new float[] {1, 2, 3, 4}, Tensors.toFloats(sd.view("conv_in.weight")));
        }
        assertTrue(Files.exists(out.resolve("model_index.json")) && Files.exists(out.resolve("unet/config.json")));
        assertFalse(Files.exists(out.resolve("unet/diffusion_pytorch_model.bin")));
    }
}
