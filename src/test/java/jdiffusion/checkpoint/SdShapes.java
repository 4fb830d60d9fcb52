package jdiffusion.checkpoint;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tensor names and shapes of diffusers' SD components for given sizes, following the module
 * structure of UNet2DConditionModel, AutoencoderKL and CLIPTextModel. Checked against the golden
 * tiny models, then used at real SD sizes, where the files would be gigabytes.
 */
final class SdShapes {
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    private SdShapes() {}

    static Map<String, long[]> unet(List<Integer> c, int layersPerBlock, List<Boolean> attention, int in, int context, boolean linear) {
        SdShapes s = new SdShapes();
        int levels = c.size();
        long t = 4L * c.getFirst();
        s.conv("conv_in", c.getFirst(), in, 3);
        s.linearBias("time_embedding.linear_1", t, c.getFirst());
        s.linearBias("time_embedding.linear_2", t, t);
        for (int i = 0; i < levels; i++) {
            int previous = i == 0 ? c.getFirst() : c.get(i - 1);
            for (int j = 0; j < layersPerBlock; j++) {
                s.resnet("down_blocks." + i + ".resnets." + j, j == 0 ? previous : c.get(i), c.get(i), t);
                if (attention.get(i)) s.transformer("down_blocks." + i + ".attentions." + j, c.get(i), context, linear);
            }
            if (i < levels - 1) s.conv("down_blocks." + i + ".downsamplers.0.conv", c.get(i), c.get(i), 3);
        }
        int last = c.getLast();
        s.resnet("mid_block.resnets.0", last, last, t);
        s.transformer("mid_block.attentions.0", last, context, linear);
        s.resnet("mid_block.resnets.1", last, last, t);
        List<Integer> r = c.reversed();
        List<Boolean> upAttention = attention.reversed();
        for (int i = 0; i < levels; i++) {
            int out = r.get(i);
            int previousOut = r.get(Math.max(i - 1, 0));
            int input = r.get(Math.min(i + 1, levels - 1));
            for (int j = 0; j <= layersPerBlock; j++) {
                int skip = j == layersPerBlock ? input : out;
                s.resnet("up_blocks." + i + ".resnets." + j, (j == 0 ? previousOut : out) + skip, out, t);
                if (upAttention.get(i)) s.transformer("up_blocks." + i + ".attentions." + j, out, context, linear);
            }
            if (i < levels - 1) s.conv("up_blocks." + i + ".upsamplers.0.conv", out, out, 3);
        }
        s.norm("conv_norm_out", c.getFirst());
        s.conv("conv_out", 4, c.getFirst(), 3);
        return s.shapes;
    }

    static Map<String, long[]> vae(List<Integer> c, int layersPerBlock, int latent) {
        SdShapes s = new SdShapes();
        int levels = c.size();
        s.conv("encoder.conv_in", c.getFirst(), 3, 3);
        for (int i = 0; i < levels; i++) {
            for (int j = 0; j < layersPerBlock; j++) {
                s.resnet("encoder.down_blocks." + i + ".resnets." + j, j == 0 ? c.get(Math.max(i - 1, 0)) : c.get(i), c.get(i), 0);
            }
            if (i < levels - 1) s.conv("encoder.down_blocks." + i + ".downsamplers.0.conv", c.get(i), c.get(i), 3);
        }
        for (String part : List.of("encoder", "decoder")) {
            s.resnet(part + ".mid_block.resnets.0", c.getLast(), c.getLast(), 0);
            s.resnet(part + ".mid_block.resnets.1", c.getLast(), c.getLast(), 0);
            String a = part + ".mid_block.attentions.0.";
            s.norm(a + "group_norm", c.getLast());
            for (String p : List.of("to_q", "to_k", "to_v", "to_out.0")) s.linearBias(a + p, c.getLast(), c.getLast());
        }
        s.norm("encoder.conv_norm_out", c.getLast());
        s.conv("encoder.conv_out", 2L * latent, c.getLast(), 3);
        s.conv("quant_conv", 2L * latent, 2L * latent, 1);
        s.conv("post_quant_conv", latent, latent, 1);
        s.conv("decoder.conv_in", c.getLast(), latent, 3);
        List<Integer> r = c.reversed();
        for (int i = 0; i < levels; i++) {
            for (int j = 0; j <= layersPerBlock; j++) {
                s.resnet("decoder.up_blocks." + i + ".resnets." + j, j == 0 ? r.get(Math.max(i - 1, 0)) : r.get(i), r.get(i), 0);
            }
            if (i < levels - 1) s.conv("decoder.up_blocks." + i + ".upsamplers.0.conv", r.get(i), r.get(i), 3);
        }
        s.norm("decoder.conv_norm_out", c.getFirst());
        s.conv("decoder.conv_out", 3, c.getFirst(), 3);
        return s.shapes;
    }

    static Map<String, long[]> textEncoder(int hidden, int intermediate, int layers) {
        SdShapes s = new SdShapes();
        s.shapes.put("text_model.embeddings.token_embedding.weight", new long[] {49408, hidden});
        s.shapes.put("text_model.embeddings.position_embedding.weight", new long[] {77, hidden});
        for (int n = 0; n < layers; n++) {
            String l = "text_model.encoder.layers." + n + ".";
            s.norm(l + "layer_norm1", hidden);
            s.norm(l + "layer_norm2", hidden);
            for (String p : List.of("q_proj", "k_proj", "v_proj", "out_proj")) s.linearBias(l + "self_attn." + p, hidden, hidden);
            s.linearBias(l + "mlp.fc1", intermediate, hidden);
            s.linearBias(l + "mlp.fc2", hidden, intermediate);
        }
        s.norm("text_model.final_layer_norm", hidden);
        return s.shapes;
    }

    private void resnet(String p, long in, long out, long time) {
        norm(p + ".norm1", in);
        conv(p + ".conv1", out, in, 3);
        if (time > 0) linearBias(p + ".time_emb_proj", out, time);
        norm(p + ".norm2", out);
        conv(p + ".conv2", out, out, 3);
        if (in != out) conv(p + ".conv_shortcut", out, in, 1);
    }

    private void transformer(String p, long c, long context, boolean linear) {
        norm(p + ".norm", c);
        if (linear) linearBias(p + ".proj_in", c, c);
        else conv(p + ".proj_in", c, c, 1);
        String b = p + ".transformer_blocks.0.";
        for (String n : List.of("norm1", "norm2", "norm3")) norm(b + n, c);
        for (String a : List.of("attn1", "attn2")) {
            long kv = a.equals("attn1") ? c : context;
            shapes.put(b + a + ".to_q.weight", new long[] {c, c});
            shapes.put(b + a + ".to_k.weight", new long[] {c, kv});
            shapes.put(b + a + ".to_v.weight", new long[] {c, kv});
            linearBias(b + a + ".to_out.0", c, c);
        }
        linearBias(b + "ff.net.0.proj", 8 * c, c); // GEGLU: value and gate, 4c each
        linearBias(b + "ff.net.2", c, 4 * c);
        if (linear) linearBias(p + ".proj_out", c, c);
        else conv(p + ".proj_out", c, c, 1);
    }

    private void norm(String p, long c) {
        shapes.put(p + ".weight", new long[] {c});
        shapes.put(p + ".bias", new long[] {c});
    }

    private void conv(String p, long out, long in, long k) {
        shapes.put(p + ".weight", new long[] {out, in, k, k});
        shapes.put(p + ".bias", new long[] {out});
    }

    private void linearBias(String p, long out, long in) {
        shapes.put(p + ".weight", new long[] {out, in});
        shapes.put(p + ".bias", new long[] {out});
    }
}
