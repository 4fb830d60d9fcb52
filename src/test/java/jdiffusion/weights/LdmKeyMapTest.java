package jdiffusion.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The LDM tables against an independent statement of the same facts: diffusers'
 * convert_diffusers_to_original_stable_diffusion.py renames by substring replacement over a table
 * hard-coded for 4 levels of 2 resnets; replaying that procedure here must give our names for
 * every UNet with 2 resnets per level (the golden ones other than the SD2 pipeline's).
 */
class LdmKeyMapTest {
    @ParameterizedTest
    @ValueSource(strings = {"sd1-tiny-pipeline/unet", "unet-sd2", "unet-sd1-inpaint", "unet-sd2-depth"})
    void unetNamesMatchTheDiffusersScript(String model) {
        try (StateDict unet = StateDict.open(Golden.model(model).resolve("diffusion_pytorch_model.safetensors"))) {
            LdmKeyMap.Plan plan = LdmKeyMap.unet(LdmKeyMap.UNetLayout.fromDiffusers(unet.keys()))
                    .toLdm(unet.keys(), LdmKeyMap.UNET_PREFIX);
            assertEquals(List.of(), plan.unmapped());
            Map<String, String> ours = new TreeMap<>();
            plan.targets().forEach((ldm, t) -> ours.put(((TensorTransform.Same) t).source(), ldm));
            Map<String, String> script = new TreeMap<>();
            for (String k : unet.keys()) script.put(k, LdmKeyMap.UNET_PREFIX + scriptUnetName(k));
            assertEquals(script, ours);
        }
    }

    /** The script's procedure: whole-name table, resnet part renames, then block prefix renames. */
    private static String scriptUnetName(String hf) {
        Map<String, String> whole = Map.of(
                "time_embedding.linear_1.weight", "time_embed.0.weight", "time_embedding.linear_1.bias", "time_embed.0.bias",
                "time_embedding.linear_2.weight", "time_embed.2.weight", "time_embedding.linear_2.bias", "time_embed.2.bias",
                "conv_in.weight", "input_blocks.0.0.weight", "conv_in.bias", "input_blocks.0.0.bias",
                "conv_norm_out.weight", "out.0.weight", "conv_norm_out.bias", "out.0.bias",
                "conv_out.weight", "out.2.weight", "conv_out.bias", "out.2.bias");
        String v = whole.getOrDefault(hf, hf);
        if (hf.contains("resnets")) {
            String[][] resnet = {{"in_layers.0", "norm1"}, {"in_layers.2", "conv1"}, {"out_layers.0", "norm2"},
                {"out_layers.3", "conv2"}, {"emb_layers.1", "time_emb_proj"}, {"skip_connection", "conv_shortcut"}};
            for (String[] p : resnet) v = v.replace(p[1], p[0]);
        }
        List<String[]> layer = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 2; j++) {
                layer.add(new String[] {"input_blocks." + (3 * i + j + 1) + ".0.", "down_blocks." + i + ".resnets." + j + "."});
                if (i < 3) layer.add(new String[] {"input_blocks." + (3 * i + j + 1) + ".1.", "down_blocks." + i + ".attentions." + j + "."});
            }
            for (int j = 0; j < 3; j++) {
                layer.add(new String[] {"output_blocks." + (3 * i + j) + ".0.", "up_blocks." + i + ".resnets." + j + "."});
                if (i > 0) layer.add(new String[] {"output_blocks." + (3 * i + j) + ".1.", "up_blocks." + i + ".attentions." + j + "."});
            }
            if (i < 3) {
                layer.add(new String[] {"input_blocks." + 3 * (i + 1) + ".0.op.", "down_blocks." + i + ".downsamplers.0.conv."});
                layer.add(new String[] {"output_blocks." + (3 * i + 2) + "." + (i == 0 ? 1 : 2) + ".", "up_blocks." + i + ".upsamplers.0."});
            }
        }
        layer.add(new String[] {"middle_block.1.", "mid_block.attentions.0."});
        for (int j = 0; j < 2; j++) layer.add(new String[] {"middle_block." + 2 * j + ".", "mid_block.resnets." + j + "."});
        for (String[] p : layer) v = v.replace(p[1], p[0]);
        return v;
    }

    @Test
    void vaeNamesFollowTheLdmEncoderAndDecoder() {
        Path vae = Golden.model("sd1-tiny-pipeline/vae/diffusion_pytorch_model.safetensors");
        try (StateDict sd = StateDict.open(vae)) {
            LdmKeyMap.Plan plan = LdmKeyMap.vae(LdmKeyMap.VAELayout.fromDiffusers(sd.keys())).toLdm(sd.keys(), "");
            assertEquals(List.of(), plan.unmapped());
            Map<String, TensorTransform> t = plan.targets();
            // Two levels: diffusers' first decoder block (lowest resolution) is LDM's up.1.
            assertEquals(new TensorTransform.Same("decoder.up_blocks.0.resnets.2.conv1.weight"), t.get("decoder.up.1.block.2.conv1.weight"));
            assertEquals(new TensorTransform.Same("decoder.up_blocks.0.upsamplers.0.conv.bias"), t.get("decoder.up.1.upsample.conv.bias"));
            assertEquals(new TensorTransform.Same("decoder.up_blocks.1.resnets.0.conv_shortcut.weight"), t.get("decoder.up.0.block.0.nin_shortcut.weight"));
            assertEquals(new TensorTransform.Same("encoder.down_blocks.0.downsamplers.0.conv.weight"), t.get("encoder.down.0.downsample.conv.weight"));
            assertEquals(new TensorTransform.Same("encoder.mid_block.resnets.1.norm2.weight"), t.get("encoder.mid.block_2.norm2.weight"));
            assertEquals(new TensorTransform.Same("decoder.conv_norm_out.bias"), t.get("decoder.norm_out.bias"));
            assertEquals(new TensorTransform.Same("encoder.mid_block.attentions.0.group_norm.weight"), t.get("encoder.mid.attn_1.norm.weight"));
            assertEquals(new TensorTransform.UnsqueezeConv1x1("decoder.mid_block.attentions.0.to_out.0.weight"), t.get("decoder.mid.attn_1.proj_out.weight"));
            assertEquals(new TensorTransform.Same("decoder.mid_block.attentions.0.to_out.0.bias"), t.get("decoder.mid.attn_1.proj_out.bias"));
            assertEquals(new TensorTransform.UnsqueezeConv1x1("encoder.mid_block.attentions.0.to_q.weight"), t.get("encoder.mid.attn_1.q.weight"));
            assertEquals(sd.keys().size(), t.size());
        }
    }

    @Test
    void openClipFusesQkvInThatOrderAndNamesTheRest() {
        try (StateDict te = StateDict.open(List.of(Golden.model("text-encoder-gelu/model.safetensors")), KeyMap.clipText())) {
            LdmKeyMap.Plan plan = LdmKeyMap.openClip(5).toLdm(te.keys(), LdmKeyMap.OPEN_CLIP_PREFIX);
            assertEquals(List.of(), plan.unmapped());
            String p = LdmKeyMap.OPEN_CLIP_PREFIX;
            assertEquals(new TensorTransform.ConcatRows(List.of("text_model.encoder.layers.3.self_attn.q_proj.weight",
                            "text_model.encoder.layers.3.self_attn.k_proj.weight", "text_model.encoder.layers.3.self_attn.v_proj.weight")),
                    plan.targets().get(p + "transformer.resblocks.3.attn.in_proj_weight"));
            assertEquals(new TensorTransform.Same("text_model.embeddings.position_embedding.weight"), plan.targets().get(p + "positional_embedding"));
            assertEquals(new TensorTransform.Same("text_model.final_layer_norm.bias"), plan.targets().get(p + "ln_final.bias"));
            assertEquals(new TensorTransform.Same("text_model.encoder.layers.0.mlp.fc2.weight"), plan.targets().get(p + "transformer.resblocks.0.mlp.c_proj.weight"));
            assertEquals(new TensorTransform.Same("text_model.encoder.layers.4.self_attn.out_proj.bias"), plan.targets().get(p + "transformer.resblocks.4.attn.out_proj.bias"));
            assertEquals(new TensorTransform.Same("text_model.encoder.layers.2.layer_norm2.weight"), plan.targets().get(p + "transformer.resblocks.2.ln_2.weight"));
            // 16 tensors per transformers layer become 12 per resblock (q/k/v weight and bias fused).
            assertEquals(te.keys().size() - 5 * 4, plan.targets().size());
        }
    }

    @Test
    void importDropsWhatDiffusersDropsAndSplitsRows() {
        String p = LdmKeyMap.OPEN_CLIP_PREFIX;
        List<String> keys = List.of(p + "text_projection", p + "logit_scale", p + "transformer.resblocks.23.ln_1.weight",
                p + "transformer.resblocks.0.attn.in_proj_bias", "model.diffusion_model.out.2.bias", p + "weird.thing");
        LdmKeyMap.Plan plan = LdmKeyMap.openClip(24).toDiffusers(keys, p);
        assertEquals(List.of(p + "text_projection", p + "logit_scale", p + "transformer.resblocks.23.ln_1.weight"), plan.ignored());
        assertEquals(List.of(p + "weird.thing"), plan.unmapped());
        assertEquals(new TensorTransform.Rows(p + "transformer.resblocks.0.attn.in_proj_bias", 1, 3),
                plan.targets().get("text_model.encoder.layers.0.self_attn.k_proj.bias"));
        assertEquals(3, plan.targets().size());
    }

    @Test
    void readsTheOldTransformersSpellingAndDropsPositionIds() {
        String p = LdmKeyMap.CLIP_PREFIX;
        LdmKeyMap.Plan plan = LdmKeyMap.clip().toDiffusers(List.of(p + "embeddings.token_embedding.weight",
                p + "text_model.embeddings.position_ids", p + "final_layer_norm.bias", p + "text_model.encoder.layers.0.mlp.fc1.bias"), p);
        assertEquals(new TreeSet<>(List.of("text_model.embeddings.token_embedding.weight", "text_model.final_layer_norm.bias",
                "text_model.encoder.layers.0.mlp.fc1.bias")), new TreeSet<>(plan.targets().keySet()));
        assertEquals(List.of(p + "text_model.embeddings.position_ids"), plan.ignored());
        // Both spellings of one tensor in one file: refused rather than one silently winning.
        var e = assertThrows(JDiffusionException.class, () -> LdmKeyMap.clip().toDiffusers(
                List.of(p + "final_layer_norm.bias", p + "text_model.final_layer_norm.bias"), p));
        assertTrue(e.getMessage().contains("twice"), e.getMessage());
    }

    @Test
    void tablesAreBijectiveOnTheGoldenModels() {
        try (StateDict unet = StateDict.open(Golden.model("sd2-tiny-pipeline/unet/diffusion_pytorch_model.safetensors"))) {
            LdmKeyMap.Table table = LdmKeyMap.unet(LdmKeyMap.UNetLayout.fromDiffusers(unet.keys()));
            LdmKeyMap.Plan out = table.toLdm(unet.keys(), LdmKeyMap.UNET_PREFIX);
            LdmKeyMap.UNetLayout back = LdmKeyMap.UNetLayout.fromLdm(out.targets().keySet().stream()
                    .map(k -> k.substring(LdmKeyMap.UNET_PREFIX.length())).toList());
            assertEquals(LdmKeyMap.UNetLayout.fromDiffusers(unet.keys()), back);
            LdmKeyMap.Plan in = LdmKeyMap.unet(back).toDiffusers(out.targets().keySet(), LdmKeyMap.UNET_PREFIX);
            assertEquals(new TreeSet<>(unet.keys()), new TreeSet<>(in.targets().keySet()));
            // SD2 tiny: 1 resnet per level, up block 0 without attention: its upsampler is output_blocks.1.1.
            assertTrue(out.targets().containsKey(LdmKeyMap.UNET_PREFIX + "output_blocks.1.1.conv.weight"));
            assertInstanceOf(TensorTransform.Same.class, in.targets().get("up_blocks.0.upsamplers.0.conv.weight"));
        }
    }

    @Test
    void refusesAnUnetThatIsNotSdShaped() {
        var e = assertThrows(JDiffusionException.class, () -> LdmKeyMap.UNetLayout.fromLdm(List.of(
                "input_blocks.0.0.weight", "input_blocks.1.0.in_layers.0.weight", "input_blocks.2.0.op.weight",
                "input_blocks.3.0.in_layers.0.weight", "input_blocks.4.0.in_layers.0.weight")));
        assertTrue(e.getMessage().contains("input_blocks"), e.getMessage());
    }
}
