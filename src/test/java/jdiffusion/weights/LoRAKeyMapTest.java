package jdiffusion.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.LoRAKeyMap.Key;
import jdiffusion.weights.LoRAKeyMap.Layout;
import jdiffusion.weights.LoRAKeyMap.Part;
import jdiffusion.weights.LoRAKeyMap.Target;
import org.junit.jupiter.api.Test;

/** The LoRA name tables: every spelling the trainers use lands on the weight it means. */
class LoRAKeyMapTest {
    /** A two-level SD-style UNet (attention in level 0 only) and a one-layer CLIP, by name only. */
    private static final List<String> UNET = unet();
    private static final List<String> TEXT = List.of(
            "text_model.embeddings.token_embedding.weight",
            "text_model.encoder.layers.0.self_attn.q_proj.weight", "text_model.encoder.layers.0.self_attn.q_proj.bias",
            "text_model.encoder.layers.0.self_attn.out_proj.weight", "text_model.encoder.layers.0.mlp.fc1.weight");
    private static final LoRAKeyMap.Index INDEX = new LoRAKeyMap.Index(UNET, TEXT);

    private static List<String> unet() {
        List<String> names = new ArrayList<>(List.of("conv_in.weight", "conv_in.bias", "time_embedding.linear_1.weight",
                "time_embedding.linear_2.weight", "conv_norm_out.weight", "conv_out.weight"));
        for (String block : List.of("down_blocks.0.", "up_blocks.1.")) {
            int resnets = block.startsWith("down") ? 1 : 2;
            for (int j = 0; j < resnets; j++) {
                String r = block + "resnets." + j + ".";
                names.addAll(List.of(r + "norm1.weight", r + "conv1.weight", r + "time_emb_proj.weight", r + "norm2.weight", r + "conv2.weight"));
                String a = block + "attentions." + j + ".";
                names.addAll(List.of(a + "norm.weight", a + "proj_in.weight", a + "proj_out.weight"));
                String t = a + "transformer_blocks.0.";
                for (String p : List.of("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "ff.net.0.proj", "ff.net.2")) {
                    names.add(t + p + ".weight");
                }
            }
        }
        names.addAll(List.of("down_blocks.0.downsamplers.0.conv.weight", "down_blocks.1.resnets.0.conv1.weight",
                "up_blocks.0.resnets.0.conv1.weight", "up_blocks.0.resnets.1.conv1.weight", "up_blocks.0.upsamplers.0.conv.weight",
                "mid_block.resnets.0.conv1.weight", "mid_block.attentions.0.proj_in.weight", "mid_block.resnets.1.conv1.weight"));
        return names;
    }

    private static Target target(String fileKey) {
        Key k = LoRAKeyMap.parse(fileKey);
        assertNotNull(k, fileKey + " should parse");
        return INDEX.resolve(k);
    }

    private static Target unet(String weight) {
        return new Target(Component.UNET, weight);
    }

    @Test
    void kohyaNamesResolveAgainstTheModelsOwnNames() {
        String q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight";
        assertEquals(unet(q), target("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight"));
        assertEquals(unet("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.weight"),
                target("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0.lora_up.weight"));
        assertEquals(unet("down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight"),
                target("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj.alpha"));
        assertEquals(unet("down_blocks.0.attentions.0.proj_in.weight"), target("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"));
        assertEquals(unet("down_blocks.0.resnets.0.conv1.weight"), target("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight"));
        assertEquals(new Target(Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.q_proj.weight"),
                target("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"));
        assertEquals(new Target(Component.TEXT_ENCODER, "text_model.encoder.layers.0.mlp.fc1.weight"),
                target("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight"));
        Key k = LoRAKeyMap.parse("lora_unet_conv_in.alpha");
        assertEquals(new Key("lora_unet_conv_in.alpha", Layout.KOHYA, null, "lora_unet_conv_in", Part.ALPHA), k);
        assertNull(target("lora_unet_down_blocks_5_attentions_0_proj_in.lora_down.weight"), "no such block");
    }

    @Test
    void kohyaNamesInTheLdmLayoutGoThroughLdmKeyMap() {
        // input_blocks.1 = down_blocks.0 resnet/attention 0; output_blocks.3 = up_blocks.1, j = 1
        assertEquals(unet("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"),
                target("lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q.lora_down.weight"));
        assertEquals(unet("down_blocks.0.resnets.0.conv1.weight"), target("lora_unet_input_blocks_1_0_in_layers_2.lora_down.weight"));
        assertEquals(unet("down_blocks.0.resnets.0.time_emb_proj.weight"), target("lora_unet_input_blocks_1_0_emb_layers_1.lora_up.weight"));
        assertEquals(unet("up_blocks.1.attentions.1.proj_out.weight"), target("lora_unet_output_blocks_3_1_proj_out.lora_up.weight"));
        assertEquals(unet("mid_block.attentions.0.proj_in.weight"), target("lora_unet_middle_block_1_proj_in.lora_down.weight"));
    }

    @Test
    void diffusersAndPeftSpellings() {
        String q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight";
        String out = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0.weight";
        String base = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.";
        assertEquals(unet(q), target("unet." + base + "to_q.lora_A.weight"));
        assertEquals(unet(q), target("unet." + base + "to_q.lora_B.weight"));
        assertEquals(unet(out), target("unet." + base + "to_out.0.lora_A.weight"));
        assertEquals(unet(q), target("unet." + base + "processor.to_q_lora.down.weight"));
        assertEquals(unet(out), target(base + "processor.to_out_lora.up.weight")); // load_attn_procs files: no prefix
        assertEquals(unet("down_blocks.0.attentions.0.proj_in.weight"), target("unet.down_blocks.0.attentions.0.proj_in.lora.down.weight"));
        assertEquals(unet(q), target("unet." + base + "to_q.alpha"));
        Target te = new Target(Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.q_proj.weight");
        assertEquals(te, target("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight"));
        assertEquals(te, target("text_encoder.text_model.encoder.layers.0.self_attn.to_q_lora.down.weight"));
        assertEquals(new Target(Component.TEXT_ENCODER, "text_model.encoder.layers.0.self_attn.out_proj.weight"),
                target("text_encoder.text_model.encoder.layers.0.self_attn.to_out_lora.up.weight"));
        assertEquals(new Target(Component.TEXT_ENCODER, "text_model.encoder.layers.0.mlp.fc1.weight"),
                target("text_encoder.text_model.encoder.layers.0.mlp.fc1.lora_linear_layer.down.weight"));
        assertEquals(Part.UP, LoRAKeyMap.parse("unet." + base + "to_q.lora_B.weight").part());
        assertNull(LoRAKeyMap.parse("unet." + base + "to_q.weight"), "a plain weight is no LoRA entry");
        assertNull(target("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn3.to_q.lora_A.weight"));
    }

    @Test
    void unsupportedVariantsAreNamed() {
        assertEquals("DoRA", LoRAKeyMap.unsupported("lora_unet_conv_in.dora_scale"));
        assertEquals("LyCORIS LoHa", LoRAKeyMap.unsupported("lora_unet_conv_in.hada_w1_a"));
        assertEquals("LyCORIS LoKr", LoRAKeyMap.unsupported("lora_unet_conv_in.lokr_w1"));
        assertNotNull(LoRAKeyMap.unsupported("lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"));
        assertNull(LoRAKeyMap.unsupported("lora_unet_conv_in.lora_down.weight"));
    }
}
