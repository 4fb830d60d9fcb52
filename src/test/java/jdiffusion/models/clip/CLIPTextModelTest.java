package jdiffusion.models.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** CLIPTextModel against transformers 4.47 (golden cases text_encoder_quick_gelu / text_encoder_gelu). */
class CLIPTextModelTest {
    private static final String WEIGHTS = "model.safetensors";

    @ParameterizedTest(name = "{0} from {1}, {2}")
    @CsvSource({
        "text_encoder_quick_gelu, sd1-tiny-pipeline/text_encoder, Float",
        "text_encoder_gelu,       text-encoder-gelu,              Float",
        // The SD2 pipeline folder holds the weights of text-encoder-gelu, so the same reference applies.
        "text_encoder_gelu,       sd2-tiny-pipeline/text_encoder, Float",
        "text_encoder_quick_gelu, sd1-tiny-pipeline/text_encoder, BFloat16",
        "text_encoder_gelu,       text-encoder-gelu,              BFloat16",
    })
    void matchesTransformers(String caseName, String modelName, String dtypeName) {
        ScalarType dtype = ScalarType.valueOf(dtypeName);
        double rtol = dtype == ScalarType.Float ? jdiffusion.Tolerances.FP32_NETWORK : jdiffusion.Tolerances.BF16_NETWORK;
        CLIPTextModel model = CLIPTextModel.load(Golden.model(modelName), dtype, Tensors.CPU);
        try (Golden golden = Golden.open(caseName); PointerScope scope = new PointerScope()) {
            String tag = caseName + " " + dtypeName + " ";
            Tensor ids = golden.tensor("input_ids");
            CLIPTextOutput out = model.forward(ids);
            assertEquals(dtype, Tensors.dtype(out.lastHiddenState()));
            // Tolerance of the brief: max|out - ref| <= rtol * max|ref|, no absolute slack.
            Golden.assertClose(tag + "last_hidden_state", out.lastHiddenState(), golden.tensor("last_hidden_state"), rtol, 0);
            Golden.assertClose(tag + "pooler_output", out.pooledOutput(), golden.tensor("pooler_output"), rtol, 0);
            assertEquals(model.config().numHiddenLayers() + 1, out.hiddenStates().size());
            for (int i = 0; i < out.hiddenStates().size(); i++) {
                Golden.assertClose(tag + "hidden_states_" + i, out.hiddenStates().get(i),
                        golden.tensor("hidden_states_" + i), rtol, 0);
            }
            List<Tensor> hidden = out.hiddenStates();
            Golden.assertClose(tag + "penultimate_hidden_state", hidden.get(hidden.size() - 2),
                    golden.tensor("penultimate_hidden_state"), rtol, 0);
            Golden.assertClose(tag + "encode(ids, clipSkip=1)", model.encode(ids, 1),
                    golden.tensor("penultimate_hidden_state_final_ln"), rtol, 0);
            Golden.assertClose(tag + "encode(ids)", model.encode(ids), golden.tensor("last_hidden_state"), rtol, 0);
        } finally {
            model.close();
        }
    }

    @Test
    void registeredNamesAreTheCheckpointKeys() {
        for (String name : List.of("sd1-tiny-pipeline/text_encoder", "text-encoder-gelu", "sd2-tiny-pipeline/text_encoder")) {
            Path folder = Golden.model(name);
            CLIPTextModel model = new CLIPTextModel(CLIPTextConfig.fromJson(folder.resolve("config.json")));
            try (StateDict file = StateDict.open(List.of(folder.resolve(WEIGHTS)), KeyMap.clipText())) {
                Set<String> expected = new TreeSet<>(file.keys());
                expected.remove("text_model.embeddings.position_ids");
                assertEquals(expected, new TreeSet<>(ModuleTensors.namedTensors(model).keySet()), name);
            } finally {
                model.close();
            }
        }
    }

    @Test
    void legacyPositionIdsAreDropped(@TempDir Path dir) throws IOException {
        Path source = Golden.model("sd1-tiny-pipeline/text_encoder");
        Map<String, Tensor> tensors = readAll(source.resolve(WEIGHTS));
        // As transformers < 4.31 saved it: int64 [1, 77].
        tensors.put("text_model.embeddings.position_ids", torch.arange(new Scalar(77)).view(1, 77));
        SafetensorsWriter.write(dir.resolve(WEIGHTS), tensors);
        Files.writeString(dir.resolve("config.json"), Files.readString(source.resolve("config.json")));
        CLIPTextModel model = CLIPTextModel.load(dir, ScalarType.Float, Tensors.CPU);
        try (Golden golden = Golden.open("text_encoder_quick_gelu"); PointerScope scope = new PointerScope()) {
            Golden.assertClose("with position_ids: last_hidden_state", model.encode(golden.tensor("input_ids")),
                    golden.tensor("last_hidden_state"), 1e-4, 0);
        } finally {
            model.close();
        }
    }

    @Test
    void wrongTensorsAreNamedWithShapes(@TempDir Path dir) throws IOException {
        Path source = Golden.model("sd1-tiny-pipeline/text_encoder");
        Map<String, Tensor> tensors = readAll(source.resolve(WEIGHTS));
        String renamed = "text_model.encoder.layers.0.self_attn.q_proj.weight";
        String reshaped = "text_model.encoder.layers.3.mlp.fc1.weight";
        tensors.put("text_model.encoder.layers.0.self_attn.query.weight", tensors.remove(renamed));
        tensors.put(reshaped, tensors.get(reshaped).t().contiguous()); // [37, 32] -> [32, 37]
        SafetensorsWriter.write(dir.resolve(WEIGHTS), tensors);
        Files.writeString(dir.resolve("config.json"), Files.readString(source.resolve("config.json")));

        JDiffusionException e = assertThrows(JDiffusionException.class,
                () -> CLIPTextModel.load(dir, ScalarType.Float, Tensors.CPU));
        String m = e.getMessage();
        System.out.println(m);
        assertTrue(m.contains("missing (1): " + renamed), m);
        assertTrue(m.contains("unexpected (1): text_model.encoder.layers.0.self_attn.query.weight"), m);
        assertTrue(m.contains(reshaped + ": file has [32, 37], the model expects [37, 32]"), m);
        assertTrue(m.contains(dir.resolve(WEIGHTS).toString()), m);
    }

    @Test
    void stableDiffusion15HasTheViTL14ParameterCount() {
        CLIPTextModel model = new CLIPTextModel(CLIPTextConfig.SD_1_5);
        try {
            long count = 0;
            for (Tensor t : ModuleTensors.namedTensors(model).values()) count += t.numel();
            assertEquals(123_060_480L, count);
            assertEquals(196, ModuleTensors.namedTensors(model).size()); // 2 + 12 * 16 + 2
        } finally {
            model.close();
        }
    }

    @Test
    void legacyEosPoolingTakesTheArgmax() {
        // eos_token_id 2 (the published SD files): the pooled token is where the largest id is.
        CLIPTextConfig legacy = new CLIPTextConfig(100, 8, 16, 8, 1, 2, 6, CLIPTextConfig.HiddenAct.GELU, 1e-5, 0, 0.02,
                1, 1, 0, 2);
        CLIPTextModel model = new CLIPTextModel(legacy);
        try (PointerScope scope = new PointerScope()) {
            Tensor ids = Tensors.fromLongs(new long[] {0, 5, 99, 2, 99, 3,  0, 2, 7, 2, 2, 2}, 2, 6);
            CLIPTextOutput out = model.forward(ids);
            Golden.assertClose("legacy pooled row 0", out.pooledOutput().select(0, 0),
                    out.lastHiddenState().select(0, 0).select(0, 2), 0, 0);
            Golden.assertClose("legacy pooled row 1", out.pooledOutput().select(0, 1),
                    out.lastHiddenState().select(0, 1).select(0, 2), 0, 0);
        } finally {
            model.close();
        }
    }

    @Test
    void badInputsAreClearErrors() {
        CLIPTextModel model = new CLIPTextModel(new CLIPTextConfig(100, 8, 16, 8, 2, 2, 6,
                CLIPTextConfig.HiddenAct.QUICK_GELU, 1e-5, 0, 0.02, 1, 1, 98, 99));
        try (PointerScope scope = new PointerScope()) {
            Tensor ok = Tensors.fromLongs(new long[] {98, 5, 99}, 1, 3);
            assertEquals("[1, 3, 8]", Tensors.shapeString(model.encode(ok, 2)));
            String m = assertThrows(JDiffusionException.class, () -> model.encode(ok, 3)).getMessage();
            assertTrue(m.contains("clip_skip 3") && m.contains("0..2"), m);
            Tensor tooLong = Tensors.fromLongs(new long[7], 1, 7);
            m = assertThrows(JDiffusionException.class, () -> model.encode(tooLong)).getMessage();
            assertTrue(m.contains("1..6 tokens"), m);
            Tensor outside = Tensors.fromLongs(new long[] {98, 100}, 1, 2);
            m = assertThrows(JDiffusionException.class, () -> model.encode(outside)).getMessage();
            assertTrue(m.contains("100, outside the vocabulary 0..99"), m);
            m = assertThrows(JDiffusionException.class, () -> model.encode(Tensors.fromFloats(new float[3], 1, 3)))
                    .getMessage();
            assertTrue(m.contains("int64"), m);
        } finally {
            model.close();
        }
        Path nowhere = Path.of("/nonexistent/text_encoder");
        String m = assertThrows(JDiffusionException.class,
                () -> CLIPTextModel.load(nowhere, ScalarType.Float, Tensors.CPU)).getMessage();
        assertTrue(m.startsWith(nowhere + " is not a folder"), m);
    }

    /** Every tensor of a safetensors file, copied out so the map outlives the file. */
    private static Map<String, Tensor> readAll(Path file) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) out.put(name, f.load(name));
        }
        return out;
    }

    @Test
    void theInputsEmbedsPathEqualsTheIdsPath() {
        CLIPTextModel model = CLIPTextModel.load(Golden.model("sd1-tiny-pipeline/text_encoder"), ScalarType.Float, Tensors.CPU);
        try (Golden golden = Golden.open("text_encoder_quick_gelu"); PointerScope scope = new PointerScope()) {
            Tensor ids = golden.tensor("input_ids"); // [3, 77]
            Tensor embeds = model.tokenEmbeddings(ids);
            assertEquals("[3, 77, 32]", Tensors.shapeString(embeds));
            for (int skip = 0; skip <= 2; skip++) {
                assertTrue(torch.equal(model.encode(ids, skip), model.encodeEmbeddings(embeds, skip)), "clip skip " + skip);
            }
            CLIPTextOutput byIds = model.forward(ids);
            CLIPTextOutput byEmbeds = model.forwardEmbeddings(embeds, ids);
            assertTrue(torch.equal(byIds.pooledOutput(), byEmbeds.pooledOutput()));
            for (int i = 0; i < byIds.hiddenStates().size(); i++) {
                assertTrue(torch.equal(byIds.hiddenStates().get(i), byEmbeds.hiddenStates().get(i)), "hidden_states_" + i);
            }
            // hidden_states_0 = token embedding + position embedding, row by row.
            Tensor positions = model.positionEmbeddings(); // [77, 32]
            assertEquals("[77, 32]", Tensors.shapeString(positions));
            assertTrue(torch.equal(embeds.add(positions), byEmbeds.hiddenStates().getFirst()));
            Golden.assertClose("hidden_states_0 from inputs_embeds", byEmbeds.hiddenStates().getFirst(),
                    golden.tensor("hidden_states_0"), 1e-6, 0);
            // The returned tables are copies: writing to them does not change the model.
            positions.zero_();
            assertTrue(torch.equal(model.encode(ids), byIds.lastHiddenState()));

            assertThrows(JDiffusionException.class, () -> model.encodeEmbeddings(torch.zeros(1, 77, 16)));
            assertThrows(JDiffusionException.class, () -> model.encodeEmbeddings(torch.zeros(1, 78, 32)));
            assertThrows(JDiffusionException.class, () -> model.encodeEmbeddings(torch.zeros(77, 32)));
            assertThrows(JDiffusionException.class, () -> model.encodeEmbeddings(embeds, 6));
            assertThrows(JDiffusionException.class, () -> model.forwardEmbeddings(embeds, ids.narrow(1, 0, 10)));
        } finally {
            model.close();
        }
    }
}
