package jdiffusion.models.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CLIPTextConfig reads transformers config.json files with transformers' defaults and clear errors. */
class CLIPTextConfigTest {
    @Test
    void unknownActivationIsAClearError(@TempDir Path dir) throws IOException {
        String json = Files.readString(Golden.model("text-encoder-gelu").resolve("config.json"))
                .replace("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\"");
        Path config = dir.resolve("config.json");
        Files.writeString(config, json);
        JDiffusionException e = assertThrows(JDiffusionException.class, () -> CLIPTextConfig.fromJson(config));
        System.out.println(e.getMessage());
        assertTrue(e.getMessage().startsWith(config.toString()), e.getMessage());
        assertTrue(e.getMessage().contains("hidden_act 'relu' is not supported"), e.getMessage());
        assertTrue(e.getMessage().contains("'quick_gelu' and 'gelu'"), e.getMessage());
    }

    @Test
    void configErrorsNameTheKeyAndTheFile(@TempDir Path dir) throws IOException {
        Path config = dir.resolve("config.json");
        Files.writeString(config, "{\"hidden_size\": 30, \"num_attention_heads\": 4}");
        String m = assertThrows(JDiffusionException.class, () -> CLIPTextConfig.fromJson(config)).getMessage();
        assertTrue(m.startsWith(config.toString()) && m.contains("hidden_size = 30")
                && m.contains("divisible by num_attention_heads (4)"), m);

        Files.writeString(config, "{\"hidden_size\": \"wide\"}");
        m = assertThrows(JDiffusionException.class, () -> CLIPTextConfig.fromJson(config)).getMessage();
        assertTrue(m.startsWith(config.toString() + ": hidden_size"), m);

        Files.writeString(config, "{\"_class_name\": \"UNet2DConditionModel\", \"in_channels\": 4}");
        m = assertThrows(JDiffusionException.class, () -> CLIPTextConfig.fromJson(config)).getMessage();
        assertTrue(m.contains("UNet2DConditionModel") && m.contains("text_encoder folder"), m);

        Path missing = dir.resolve("nothing/config.json");
        m = assertThrows(JDiffusionException.class, () -> CLIPTextConfig.fromJson(missing)).getMessage();
        assertEquals(missing + ": file not found", m);
    }

    @Test
    void missingKeysTakeTheTransformersDefaults(@TempDir Path dir) throws IOException {
        Path config = dir.resolve("config.json");
        Files.writeString(config, "{\"hidden_size\": 64, \"num_attention_heads\": 2, \"some_future_key\": [1]}");
        CLIPTextConfig c = CLIPTextConfig.fromJson(config);
        CLIPTextConfig d = CLIPTextConfig.defaults();
        assertEquals(new CLIPTextConfig(d.vocabSize(), 64, d.intermediateSize(), d.projectionDim(), d.numHiddenLayers(),
                2, d.maxPositionEmbeddings(), d.hiddenAct(), d.layerNormEps(), d.attentionDropout(), d.initializerRange(),
                d.initializerFactor(), d.padTokenId(), d.bosTokenId(), d.eosTokenId()), c);
        assertEquals(CLIPTextConfig.HiddenAct.QUICK_GELU, c.hiddenAct());
        assertEquals(49407, c.eosTokenId());
    }

    @Test
    void goldenConfigsReadAsWritten() {
        CLIPTextConfig sd1 = CLIPTextConfig.fromJson(Golden.model("sd1-tiny-pipeline/text_encoder").resolve("config.json"));
        assertEquals(new CLIPTextConfig(49408, 32, 37, 32, 5, 4, 77, CLIPTextConfig.HiddenAct.QUICK_GELU, 1e-5, 0.0,
                0.02, 1.0, 1, 49406, 49407), sd1);
        CLIPTextConfig gelu = CLIPTextConfig.fromJson(Golden.model("text-encoder-gelu").resolve("config.json"));
        assertEquals(CLIPTextConfig.HiddenAct.GELU, gelu.hiddenAct());
    }

    @Test
    void publishedConfigsHaveTheirArchitectures() {
        CLIPTextConfig sd1 = CLIPTextConfig.SD_1_5;
        assertEquals(768, sd1.hiddenSize());
        assertEquals(64, sd1.headDim());
        assertEquals(CLIPTextConfig.HiddenAct.QUICK_GELU, sd1.hiddenAct());
        CLIPTextConfig sd2 = CLIPTextConfig.SD_2_1;
        assertEquals(1024, sd2.hiddenSize());
        assertEquals(4096, sd2.intermediateSize());
        assertEquals(23, sd2.numHiddenLayers());
        assertEquals(64, sd2.headDim());
        assertEquals(512, sd2.projectionDim());
        assertEquals(CLIPTextConfig.HiddenAct.GELU, sd2.hiddenAct());
        // Both published files still carry the pre-2023 eos_token_id 2, hence argmax pooling.
        assertTrue(sd1.legacyEosPooling() && sd2.legacyEosPooling());
    }
}
