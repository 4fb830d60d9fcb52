package jdiffusion.weights;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Predicate;
import jdiffusion.JDiffusionException;

/**
 * Key tables between the original CompVis/Stability LDM single-file layout (what AUTOMATIC1111 and
 * ComfyUI load: {@code model.diffusion_model.input_blocks.1.0.in_layers.0.weight}, ...) and the
 * diffusers/transformers names our modules register ({@code down_blocks.0.resnets.0.norm1.weight}).
 * Part of {@link KeyMap}: the one place where foreign names live.
 *
 * <p>Sources (facts, not code):
 * <a href="https://github.com/huggingface/diffusers/blob/v0.31.0/scripts/convert_diffusers_to_original_stable_diffusion.py">diffusers
 * convert_diffusers_to_original_stable_diffusion.py</a> and
 * <a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/loaders/single_file_utils.py">single_file_utils.py</a>
 * (v0.31.0); the LDM modules themselves, CompVis/stable-diffusion
 * {@code ldm/modules/diffusionmodules/openaimodel.py} (UNetModel) and {@code model.py} (Encoder/Decoder);
 * mlfoundations/open_clip {@code transformer.py} (ResidualAttentionBlock).
 *
 * <p>Each table is a list of {@link Rule}s (one line: LDM name, diffusers name), computed from the
 * component's layout where the numbering depends on it. A table turns a set of names of one
 * layout into a plan for the other: target name to {@link TensorTransform}. Tables are
 * prefix-free on both sides, so a name matches at most one rule.
 */
public final class LdmKeyMap {
    /** Where each component lives in a single file. */
    public static final String UNET_PREFIX = "model.diffusion_model.";
    public static final String VAE_PREFIX = "first_stage_model.";
    /** SD 1.x: OpenAI CLIP ViT-L/14 as a transformers CLIPTextModel. */
    public static final String CLIP_PREFIX = "cond_stage_model.transformer.";
    /** SD 2.x: OpenCLIP ViT-H/14 in open_clip's own layout. */
    public static final String OPEN_CLIP_PREFIX = "cond_stage_model.model.";

    private LdmKeyMap() {}

    /** What a rule does besides renaming. */
    public enum Kind {
        /** Everything under the LDM prefix is everything under the diffusers prefix. */
        PREFIX,
        /** As PREFIX, but {@code weight} is a 1x1 conv [C, C, 1, 1] in LDM and a Linear [C, C] in diffusers. */
        CONV_1X1,
        /** One whole name for one whole name (a bare parameter such as {@code positional_embedding}). */
        EXACT,
        /** One LDM tensor holds several diffusers tensors as equal blocks of rows (OpenCLIP q, k, v). */
        FUSED_ROWS,
    }

    /**
     * One line of a table. {@code diffusers} has one name, or the row blocks of a FUSED_ROWS rule.
     * An {@code importOnly} rule reads an outdated LDM spelling and is never written.
     */
    public record Rule(String ldm, List<String> diffusers, Kind kind, boolean importOnly) {
        public Rule {
            diffusers = List.copyOf(diffusers);
        }

        static Rule prefix(String ldm, String diffusers) {
            return new Rule(ldm, List.of(diffusers), Kind.PREFIX, false);
        }

        static Rule conv1x1(String ldm, String diffusers) {
            return new Rule(ldm, List.of(diffusers), Kind.CONV_1X1, false);
        }

        static Rule exact(String ldm, String diffusers) {
            return new Rule(ldm, List.of(diffusers), Kind.EXACT, false);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // UNet

    /**
     * The numbering facts of an SD UNet: {@code levels} resolutions, {@code layersPerBlock} resnets
     * per down level (one more per up level), and which levels hold cross-attention transformers
     * (indexed as diffusers' down_blocks and up_blocks; up block i is level levels-1-i).
     */
    public record UNetLayout(int levels, int layersPerBlock, List<Boolean> downAttention, List<Boolean> upAttention) {
        public UNetLayout {
            downAttention = List.copyOf(downAttention);
            upAttention = List.copyOf(upAttention);
            if (levels < 1 || layersPerBlock < 1 || downAttention.size() != levels || upAttention.size() != levels) {
                throw new IllegalArgumentException("inconsistent UNet layout " + levels + "/" + layersPerBlock);
            }
        }

        /** Read from LDM names (component prefix removed): input_blocks.0 is conv_in, then per level
         *  layersPerBlock resnet blocks and (but for the last level) one downsampler. */
        public static UNetLayout fromLdm(Collection<String> keys) {
            int inputBlocks = countIndexed(keys, "input_blocks.");
            int layersPerBlock = 0;
            while (hasPrefix(keys, "input_blocks." + (layersPerBlock + 1) + ".0.in_layers.")) layersPerBlock++;
            if (inputBlocks < 2 || layersPerBlock == 0 || inputBlocks % (layersPerBlock + 1) != 0) {
                throw new JDiffusionException("the UNet's input_blocks (" + inputBlocks + " found, " + layersPerBlock
                        + " resnets in the first level) do not follow the SD 1.x/2.x pattern");
            }
            int levels = inputBlocks / (layersPerBlock + 1);
            int outputBlocks = countIndexed(keys, "output_blocks.");
            if (outputBlocks != levels * (layersPerBlock + 1)) {
                throw new JDiffusionException("the UNet has " + outputBlocks + " output_blocks, expected "
                        + levels * (layersPerBlock + 1) + " for " + levels + " levels of " + layersPerBlock + " resnets");
            }
            List<Boolean> down = new ArrayList<>();
            List<Boolean> up = new ArrayList<>();
            for (int i = 0; i < levels; i++) {
                down.add(hasPrefix(keys, "input_blocks." + (1 + i * (layersPerBlock + 1)) + ".1."));
                // The first output block of a level holds a resnet and maybe a transformer, never the upsampler.
                up.add(hasPrefix(keys, "output_blocks." + i * (layersPerBlock + 1) + ".1."));
            }
            return new UNetLayout(levels, layersPerBlock, down, up);
        }

        /** Read from diffusers names. */
        public static UNetLayout fromDiffusers(Collection<String> keys) {
            int levels = countIndexed(keys, "down_blocks.");
            int layersPerBlock = countIndexed(keys, "down_blocks.0.resnets.");
            if (levels == 0 || layersPerBlock == 0) {
                throw new JDiffusionException("no down_blocks.N.resnets.M tensors: not a diffusers UNet2DConditionModel");
            }
            List<Boolean> down = new ArrayList<>();
            List<Boolean> up = new ArrayList<>();
            for (int i = 0; i < levels; i++) {
                down.add(hasPrefix(keys, "down_blocks." + i + ".attentions.0."));
                up.add(hasPrefix(keys, "up_blocks." + i + ".attentions.0."));
            }
            return new UNetLayout(levels, layersPerBlock, down, up);
        }
    }

    /** diffusers UNet2DConditionModel (SD 1.x/2.x) to LDM UNetModel, names below {@link #UNET_PREFIX}. */
    public static Table unet(UNetLayout layout) {
        int lpb = layout.layersPerBlock();
        List<Rule> rules = new ArrayList<>(List.of(
                Rule.prefix("time_embed.0.", "time_embedding.linear_1."), // time_embed.1 is SiLU: no weights
                Rule.prefix("time_embed.2.", "time_embedding.linear_2."),
                Rule.prefix("input_blocks.0.0.", "conv_in."),
                Rule.prefix("out.0.", "conv_norm_out."), // out.1 is SiLU
                Rule.prefix("out.2.", "conv_out.")));
        for (int i = 0; i < layout.levels(); i++) {
            for (int j = 0; j < lpb; j++) {
                int n = 1 + i * (lpb + 1) + j;
                unetResnet(rules, "input_blocks." + n + ".0.", "down_blocks." + i + ".resnets." + j + ".");
                if (layout.downAttention().get(i)) {
                    // SpatialTransformer and Transformer2DModel name their insides alike.
                    rules.add(Rule.prefix("input_blocks." + n + ".1.", "down_blocks." + i + ".attentions." + j + "."));
                }
            }
            if (i < layout.levels() - 1) {
                rules.add(Rule.prefix("input_blocks." + (i + 1) * (lpb + 1) + ".0.op.", "down_blocks." + i + ".downsamplers.0.conv."));
            }
        }
        unetResnet(rules, "middle_block.0.", "mid_block.resnets.0.");
        rules.add(Rule.prefix("middle_block.1.", "mid_block.attentions.0."));
        unetResnet(rules, "middle_block.2.", "mid_block.resnets.1.");
        for (int i = 0; i < layout.levels(); i++) {
            boolean attention = layout.upAttention().get(i);
            for (int j = 0; j <= lpb; j++) {
                int n = i * (lpb + 1) + j;
                unetResnet(rules, "output_blocks." + n + ".0.", "up_blocks." + i + ".resnets." + j + ".");
                if (attention) rules.add(Rule.prefix("output_blocks." + n + ".1.", "up_blocks." + i + ".attentions." + j + "."));
            }
            if (i < layout.levels() - 1) {
                // The upsampler follows the last resnet (and its transformer, when the level has one).
                int n = i * (lpb + 1) + lpb;
                rules.add(Rule.prefix("output_blocks." + n + "." + (attention ? 2 : 1) + ".conv.",
                        "up_blocks." + i + ".upsamplers.0.conv."));
            }
        }
        return new Table("UNet", rules, key -> false);
    }

    /** LDM ResBlock to diffusers ResnetBlock2D: in_layers = [GroupNorm, SiLU, conv], out_layers = [GroupNorm, SiLU, Dropout, conv]. */
    private static void unetResnet(List<Rule> rules, String ldm, String diffusers) {
        rules.add(Rule.prefix(ldm + "in_layers.0.", diffusers + "norm1."));
        rules.add(Rule.prefix(ldm + "in_layers.2.", diffusers + "conv1."));
        rules.add(Rule.prefix(ldm + "emb_layers.1.", diffusers + "time_emb_proj.")); // emb_layers.0 is SiLU
        rules.add(Rule.prefix(ldm + "out_layers.0.", diffusers + "norm2."));
        rules.add(Rule.prefix(ldm + "out_layers.3.", diffusers + "conv2."));
        rules.add(Rule.prefix(ldm + "skip_connection.", diffusers + "conv_shortcut."));
    }

    // ---------------------------------------------------------------------------------------------
    // VAE

    /** {@code levels} resolutions with {@code layersPerBlock} resnets per encoder level (one more per decoder level). */
    public record VAELayout(int levels, int layersPerBlock) {
        public static VAELayout fromLdm(Collection<String> keys) {
            return check(countIndexed(keys, "encoder.down."), countIndexed(keys, "encoder.down.0.block."));
        }

        public static VAELayout fromDiffusers(Collection<String> keys) {
            return check(countIndexed(keys, "encoder.down_blocks."), countIndexed(keys, "encoder.down_blocks.0.resnets."));
        }

        private static VAELayout check(int levels, int layersPerBlock) {
            if (levels == 0 || layersPerBlock == 0) {
                throw new JDiffusionException("the VAE has no encoder down blocks with resnets: not an SD AutoencoderKL");
            }
            return new VAELayout(levels, layersPerBlock);
        }
    }

    /** diffusers AutoencoderKL to LDM AutoencoderKL, names below {@link #VAE_PREFIX}. */
    public static Table vae(VAELayout layout) {
        List<Rule> rules = new ArrayList<>(List.of(
                Rule.prefix("encoder.conv_in.", "encoder.conv_in."),
                Rule.prefix("encoder.norm_out.", "encoder.conv_norm_out."),
                Rule.prefix("encoder.conv_out.", "encoder.conv_out."),
                Rule.prefix("decoder.conv_in.", "decoder.conv_in."),
                Rule.prefix("decoder.norm_out.", "decoder.conv_norm_out."),
                Rule.prefix("decoder.conv_out.", "decoder.conv_out."),
                Rule.prefix("quant_conv.", "quant_conv."),
                Rule.prefix("post_quant_conv.", "post_quant_conv.")));
        int levels = layout.levels();
        for (int i = 0; i < levels; i++) {
            for (int j = 0; j < layout.layersPerBlock(); j++) {
                vaeResnet(rules, "encoder.down." + i + ".block." + j + ".", "encoder.down_blocks." + i + ".resnets." + j + ".");
            }
            if (i < levels - 1) {
                rules.add(Rule.prefix("encoder.down." + i + ".downsample.conv.", "encoder.down_blocks." + i + ".downsamplers.0.conv."));
            }
            // LDM numbers decoder levels by resolution (up.0 is the last to run); diffusers in running order.
            int ldmLevel = levels - 1 - i;
            for (int j = 0; j <= layout.layersPerBlock(); j++) {
                vaeResnet(rules, "decoder.up." + ldmLevel + ".block." + j + ".", "decoder.up_blocks." + i + ".resnets." + j + ".");
            }
            if (i < levels - 1) {
                rules.add(Rule.prefix("decoder.up." + ldmLevel + ".upsample.conv.", "decoder.up_blocks." + i + ".upsamplers.0.conv."));
            }
        }
        for (String part : List.of("encoder.", "decoder.")) {
            vaeResnet(rules, part + "mid.block_1.", part + "mid_block.resnets.0.");
            vaeResnet(rules, part + "mid.block_2.", part + "mid_block.resnets.1.");
            String ldm = part + "mid.attn_1.";
            String diffusers = part + "mid_block.attentions.0.";
            rules.add(Rule.prefix(ldm + "norm.", diffusers + "group_norm."));
            rules.add(Rule.conv1x1(ldm + "q.", diffusers + "to_q."));
            rules.add(Rule.conv1x1(ldm + "k.", diffusers + "to_k."));
            rules.add(Rule.conv1x1(ldm + "v.", diffusers + "to_v."));
            rules.add(Rule.conv1x1(ldm + "proj_out.", diffusers + "to_out.0."));
        }
        return new Table("VAE", rules, key -> false);
    }

    /** LDM's VAE ResnetBlock names its parts as diffusers does, except the 1x1 shortcut. */
    private static void vaeResnet(List<Rule> rules, String ldm, String diffusers) {
        for (String same : List.of("norm1.", "conv1.", "norm2.", "conv2.")) rules.add(Rule.prefix(ldm + same, diffusers + same));
        rules.add(Rule.prefix(ldm + "nin_shortcut.", diffusers + "conv_shortcut."));
    }

    // ---------------------------------------------------------------------------------------------
    // Text encoders

    /**
     * SD 1.x: the LDM FrozenCLIPEmbedder wraps a transformers CLIPTextModel, so the names below
     * {@link #CLIP_PREFIX} are transformers' own. Files written with transformers before 4.17 lack
     * the {@code text_model.} level; AUTOMATIC1111 renames them ({@code checkpoint_dict_replacements_sd1}
     * in modules/sd_models.py), and so do we, on import only. {@code position_ids} is a constant
     * buffer that newer transformers no longer saves.
     */
    public static Table clip() {
        List<Rule> rules = List.of(
                Rule.prefix("text_model.", "text_model."),
                new Rule("embeddings.", List.of("text_model.embeddings."), Kind.PREFIX, true),
                new Rule("encoder.", List.of("text_model.encoder."), Kind.PREFIX, true),
                new Rule("final_layer_norm.", List.of("text_model.final_layer_norm."), Kind.PREFIX, true));
        return new Table("text encoder (CLIP)", rules,
                key -> key.equals("text_model.embeddings.position_ids") || key.equals("embeddings.position_ids"));
    }

    /**
     * SD 2.x: open_clip's text tower, names below {@link #OPEN_CLIP_PREFIX}, for {@code layers}
     * resblocks. Each resblock's attention is a torch MultiheadAttention whose {@code in_proj_weight}
     * [3C, C] stacks q, k, v. Dropped on import: {@code text_projection} and {@code logit_scale}
     * (CLIPTextModel has neither), and resblock 23: ViT-H/14 has 24, SD 2 conditions on the
     * penultimate layer, so the 24th never runs and diffusers ignores it
     * ({@code SD_2_TEXT_ENCODER_KEYS_TO_IGNORE}); its converted text encoders have 23 layers.
     * {@code attn_mask} is open_clip's causal mask, a buffer some versions saved.
     */
    public static Table openClip(int layers) {
        List<Rule> rules = new ArrayList<>(List.of(
                Rule.prefix("token_embedding.", "text_model.embeddings.token_embedding."),
                Rule.exact("positional_embedding", "text_model.embeddings.position_embedding.weight"),
                Rule.prefix("ln_final.", "text_model.final_layer_norm.")));
        for (int n = 0; n < layers; n++) {
            String ldm = "transformer.resblocks." + n + ".";
            String diffusers = "text_model.encoder.layers." + n + ".";
            rules.add(Rule.prefix(ldm + "ln_1.", diffusers + "layer_norm1."));
            rules.add(Rule.prefix(ldm + "ln_2.", diffusers + "layer_norm2."));
            rules.add(Rule.prefix(ldm + "mlp.c_fc.", diffusers + "mlp.fc1."));
            rules.add(Rule.prefix(ldm + "mlp.c_proj.", diffusers + "mlp.fc2."));
            rules.add(Rule.prefix(ldm + "attn.out_proj.", diffusers + "self_attn.out_proj."));
            for (String leaf : List.of("weight", "bias")) {
                rules.add(new Rule(ldm + "attn.in_proj_" + leaf, List.of(
                        diffusers + "self_attn.q_proj." + leaf,
                        diffusers + "self_attn.k_proj." + leaf,
                        diffusers + "self_attn.v_proj." + leaf), Kind.FUSED_ROWS, false));
            }
        }
        return new Table("text encoder (OpenCLIP)", rules, key -> key.equals("text_projection")
                || key.equals("logit_scale") || key.equals("attn_mask") || key.startsWith("transformer.resblocks.23."));
    }

    /** The number of open_clip resblocks a set of LDM text-encoder names holds (before any are dropped). */
    public static int openClipLayers(Collection<String> keys) {
        return countIndexed(keys, "transformer.resblocks.");
    }

    // ---------------------------------------------------------------------------------------------

    /** A conversion plan and the names it could not place. */
    public record Plan(Map<String, TensorTransform> targets, List<String> unmapped, List<String> ignored) {}

    /** One component's rules, indexed both ways. */
    public static final class Table {
        private final String what;
        private final List<Rule> rules;
        private final Predicate<String> ignoredOnImport;
        private final Map<String, Rule> byLdm = new HashMap<>();
        /** diffusers name (or prefix) to its rule and, for fused rules, its block index. */
        private final Map<String, Map.Entry<Rule, Integer>> byDiffusers = new HashMap<>();

        Table(String what, List<Rule> rules, Predicate<String> ignoredOnImport) {
            this.what = what;
            this.rules = List.copyOf(rules);
            this.ignoredOnImport = ignoredOnImport;
            for (Rule r : rules) {
                put(byLdm, r.ldm(), r);
                if (r.importOnly()) continue;
                for (int i = 0; i < r.diffusers().size(); i++) put(byDiffusers, r.diffusers().get(i), Map.entry(r, i));
            }
            checkPrefixFree(byLdm.keySet());
            checkPrefixFree(byDiffusers.keySet());
        }

        public List<Rule> rules() {
            return rules;
        }

        private static <V> void put(Map<String, V> map, String key, V value) {
            if (map.put(key, value) != null) throw new IllegalStateException("duplicate rule for " + key);
        }

        /** A table whose one side has both "a." and "a.b." would be ambiguous: a bug in the table. */
        private static void checkPrefixFree(Collection<String> names) {
            TreeSet<String> sorted = new TreeSet<>(names);
            String previous = null;
            for (String n : sorted) {
                if (previous != null && previous.endsWith(".") && n.startsWith(previous)) {
                    throw new IllegalStateException("key table is ambiguous: " + previous + " and " + n);
                }
                previous = n;
            }
        }

        /**
         * diffusers names for the LDM names under {@code prefix} in {@code fileKeys}: each target
         * with its transform over the full file names. Names outside {@code prefix} are not looked at.
         */
        public Plan toDiffusers(Collection<String> fileKeys, String prefix) {
            Map<String, TensorTransform> targets = new LinkedHashMap<>();
            List<String> unmapped = new ArrayList<>();
            List<String> ignored = new ArrayList<>();
            for (String fileKey : fileKeys) {
                if (!fileKey.startsWith(prefix)) continue;
                String key = fileKey.substring(prefix.length());
                if (ignoredOnImport.test(key)) {
                    ignored.add(fileKey);
                    continue;
                }
                Rule rule = lookup(byLdm, key);
                if (rule == null) {
                    unmapped.add(fileKey);
                    continue;
                }
                switch (rule.kind()) {
                    case EXACT -> add(targets, rule.diffusers().getFirst(), new TensorTransform.Same(fileKey));
                    case PREFIX -> add(targets, rule.diffusers().getFirst() + key.substring(rule.ldm().length()),
                            new TensorTransform.Same(fileKey));
                    case CONV_1X1 -> {
                        String leaf = key.substring(rule.ldm().length());
                        add(targets, rule.diffusers().getFirst() + leaf, leaf.equals("weight")
                                ? new TensorTransform.SqueezeConv1x1(fileKey) : new TensorTransform.Same(fileKey));
                    }
                    case FUSED_ROWS -> {
                        int parts = rule.diffusers().size();
                        for (int i = 0; i < parts; i++) add(targets, rule.diffusers().get(i), new TensorTransform.Rows(fileKey, i, parts));
                    }
                }
            }
            return new Plan(targets, unmapped, ignored);
        }

        /** LDM names (with {@code prefix} prepended) for diffusers names: the inverse of {@link #toDiffusers}. */
        public Plan toLdm(Collection<String> diffusersKeys, String prefix) {
            Map<String, TensorTransform> targets = new LinkedHashMap<>();
            Map<String, String[]> fused = new LinkedHashMap<>();
            Map<String, Rule> fusedRules = new HashMap<>();
            List<String> unmapped = new ArrayList<>();
            for (String key : diffusersKeys) {
                Map.Entry<Rule, Integer> hit = lookup(byDiffusers, key);
                if (hit == null) {
                    unmapped.add(key);
                    continue;
                }
                Rule rule = hit.getKey();
                String diffusersName = rule.diffusers().get(hit.getValue());
                switch (rule.kind()) {
                    case EXACT -> add(targets, prefix + rule.ldm(), new TensorTransform.Same(key));
                    case PREFIX -> add(targets, prefix + rule.ldm() + key.substring(diffusersName.length()),
                            new TensorTransform.Same(key));
                    case CONV_1X1 -> {
                        String leaf = key.substring(diffusersName.length());
                        add(targets, prefix + rule.ldm() + leaf, leaf.equals("weight")
                                ? new TensorTransform.UnsqueezeConv1x1(key) : new TensorTransform.Same(key));
                    }
                    case FUSED_ROWS -> {
                        fused.computeIfAbsent(rule.ldm(), k -> new String[rule.diffusers().size()])[hit.getValue()] = key;
                        fusedRules.put(rule.ldm(), rule);
                    }
                }
            }
            for (Map.Entry<String, String[]> e : fused.entrySet()) {
                List<String> parts = java.util.Arrays.asList(e.getValue());
                if (parts.contains(null)) {
                    List<String> missing = new ArrayList<>(fusedRules.get(e.getKey()).diffusers());
                    missing.removeAll(parts);
                    throw new JDiffusionException(what + ": " + missing + " missing; " + e.getKey()
                            + " needs all of " + fusedRules.get(e.getKey()).diffusers());
                }
                add(targets, prefix + e.getKey(), new TensorTransform.ConcatRows(parts));
            }
            return new Plan(targets, unmapped, List.of());
        }

        private void add(Map<String, TensorTransform> targets, String name, TensorTransform t) {
            TensorTransform previous = targets.put(name, t);
            if (previous != null) {
                throw new JDiffusionException(what + ": '" + name + "' is given twice (by " + previous.sources()
                        + " and by " + t.sources() + "); the checkpoint mixes two spellings of the same tensor");
            }
        }

        /** The rule for a name: the whole name, or its prefix up to some dot. */
        private static <V> V lookup(Map<String, V> index, String key) {
            V exact = index.get(key);
            if (exact != null) return exact;
            for (int dot = key.indexOf('.'); dot >= 0; dot = key.indexOf('.', dot + 1)) {
                V hit = index.get(key.substring(0, dot + 1));
                if (hit != null) return hit;
            }
            return null;
        }
    }

    // ---------------------------------------------------------------------------------------------

    public static boolean hasPrefix(Collection<String> keys, String prefix) {
        for (String k : keys) {
            if (k.startsWith(prefix)) return true;
        }
        return false;
    }

    /** 1 + the largest N of names {@code prefix + N + "."...} (0 when there are none). */
    public static int countIndexed(Collection<String> keys, String prefix) {
        int max = -1;
        for (String k : keys) {
            if (!k.startsWith(prefix)) continue;
            int end = k.indexOf('.', prefix.length());
            if (end < 0) continue;
            try {
                max = Math.max(max, Integer.parseInt(k.substring(prefix.length(), end)));
            } catch (NumberFormatException notAnIndex) {
                // e.g. "input_blocks.x": not part of the numbering
            }
        }
        return max + 1;
    }
}
