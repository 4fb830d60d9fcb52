package jdiffusion.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.PredictionType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The YAML constructs the LDM inference configs use, and clear refusals of the ones they do not. */
class SimpleYamlTest {
    @TempDir
    Path dir;

    @Test
    void readsTheLdmConfigConstructs() {
        JsonNode root = SimpleYaml.parse("test.yaml", """
                model:
                  base_learning_rate: 1.0e-04
                  params:
                    first_stage_key: "jpg"
                    cond_stage_trainable: false   # Note: a comment
                    scale_factor: 0.18215
                    use_ema: False
                    scheduler_config: # 10000 warmup steps
                      params:
                        warm_up_steps: [ 10000 ]
                        cycle_lengths: [ 10000000000000 ] # incredibly large
                        f_start: [ 1.e-6 ]
                        f_max: [ 1. ]
                    personalization_config:
                      params:
                        placeholder_strings: ["*"]
                        initializer_words: ['sculpture']
                    unet_config:
                      params:
                        attention_resolutions: [ 4, 2, 1 ]
                        use_spatial_transformer: True
                    first_stage_config:
                      params:
                        ddconfig:
                          #attn_type: "vanilla-xformers"
                          ch_mult:
                          - 1
                          - 2
                          attn_resolutions: []
                        lossconfig:
                          target: torch.nn.Identity
                    cond_stage_config:
                """);
        JsonNode params = root.path("model").path("params");
        assertEquals(1.0e-4, root.path("model").path("base_learning_rate").doubleValue());
        assertEquals("jpg", params.path("first_stage_key").textValue());
        assertTrue(params.path("cond_stage_trainable").isBoolean() && !params.path("use_ema").booleanValue());
        assertEquals(10000000000000L, params.at("/scheduler_config/params/cycle_lengths/0").longValue());
        assertEquals(1e-6, params.at("/scheduler_config/params/f_start/0").doubleValue());
        assertEquals(1.0, params.at("/scheduler_config/params/f_max/0").doubleValue());
        assertEquals("*", params.at("/personalization_config/params/placeholder_strings/0").textValue());
        assertEquals("sculpture", params.at("/personalization_config/params/initializer_words/0").textValue());
        assertEquals("[4,2,1]", params.at("/unet_config/params/attention_resolutions").toString());
        assertEquals("[1,2]", params.at("/first_stage_config/params/ddconfig/ch_mult").toString());
        assertEquals(0, params.at("/first_stage_config/params/ddconfig/attn_resolutions").size());
        assertEquals("torch.nn.Identity", params.at("/first_stage_config/params/lossconfig/target").textValue());
        assertTrue(params.path("cond_stage_config").isNull());
    }

    @Test
    void refusesWhatItDoesNotRead() {
        var e = assertThrows(JDiffusionException.class, () -> SimpleYaml.parse("x.yaml", "a:\n  b: &anchor 1\n"));
        assertTrue(e.getMessage().contains("x.yaml: line 2"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> SimpleYaml.parse("x.yaml", "a: 1\na: 2\n"));
        assertTrue(e.getMessage().contains("repeats the key 'a'"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> SimpleYaml.parse("x.yaml", "a:\n    b: 1\n  c: 2\n"));
        assertTrue(e.getMessage().contains("line 3"), e.getMessage());
    }

    @Test
    void originalConfigReadsSd2HeadsAndParameterization() throws Exception {
        Path yaml = Files.writeString(dir.resolve("v2.yaml"), SingleFileCheckpointTest.TINY_V2_YAML);
        OriginalConfig c = OriginalConfig.read(yaml);
        assertEquals(PredictionType.V_PREDICTION, c.predictionType());
        assertEquals(16, c.numHeadChannels());
        assertEquals(null, c.numHeads());
        assertEquals(Boolean.TRUE, c.useLinearInTransformer());
        assertTrue(c.usesOpenClip());
        Path json = Files.writeString(dir.resolve("v1.json"), """
                {"model": {"params": {"unet_config": {"params": {"num_heads": 8, "context_dim": 768}},
                 "cond_stage_config": {"target": "ldm.modules.encoders.modules.FrozenCLIPEmbedder"}}}}""");
        OriginalConfig v1 = OriginalConfig.read(json);
        assertEquals(PredictionType.EPSILON, v1.predictionType());
        assertEquals(8, v1.numHeads());
        var e = assertThrows(JDiffusionException.class, () -> OriginalConfig.read(
                Files.writeString(dir.resolve("config.json"), "{\"_class_name\": \"UNet2DConditionModel\"}")));
        assertTrue(e.getMessage().contains("not a diffusers config.json"), e.getMessage());
    }
}
