package jdiffusion.weights;

import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The names in LoRA files, as the trainers write them, and the model weights they update. Part of
 * {@link KeyMap}: the one place where foreign names live. Two families:
 * <ul>
 *   <li><b>kohya</b> (sd-scripts, most files on Civitai): {@code lora_unet_<module>.lora_down.weight},
 *       {@code .lora_up.weight} and {@code .alpha}, where {@code <module>} is the module's dotted path
 *       with every dot turned into {@code _}: {@code lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q},
 *       {@code lora_te_text_model_encoder_layers_0_self_attn_q_proj}. Some tools spell the UNet in
 *       the LDM layout ({@code lora_unet_input_blocks_1_1_proj_in}); that spelling goes through
 *       {@link LdmKeyMap}.</li>
 *   <li><b>diffusers</b>: PEFT ({@code unet.<module>.lora_A.weight} / {@code lora_B}, the text encoder
 *       under {@code text_encoder.}; a UNet adapter saved by peft itself under {@code base_model.model.}) and the older diffusers spellings ({@code <module>.lora.down.weight},
 *       attention processors' {@code attn1.processor.to_q_lora.down.weight}, the text encoder's
 *       {@code lora_linear_layer} and {@code to_q_lora} for {@code q_proj}).</li>
 * </ul>
 * Facts from diffusers {@code loaders/lora_conversion_utils.py} ({@code _convert_non_diffusers_lora_to_diffusers},
 * {@code _convert_unet_lora_key}, {@code _convert_text_encoder_lora_key}) and kohya-ss/sd-scripts
 * {@code networks/lora.py}; the code is ours.
 *
 * <p>Kohya's underscores cannot be turned back into dots by rule ({@code to_q}, {@code proj_in},
 * {@code transformer_blocks} hold underscores of their own), so kohya names are resolved against the
 * model's real weight names: every weight {@code a.b_c.weight} is indexed under {@code lora_unet_a_b_c}.
 */
public final class LoRAKeyMap {
    private LoRAKeyMap() {}

    /** The model a LoRA entry updates. */
    public enum Component {
        UNET("UNet"), TEXT_ENCODER("text encoder");

        private final String label;

        Component(String label) {
            this.label = label;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /** Which file format the names follow. */
    public enum Layout { KOHYA, DIFFUSERS }

    /** down = A [r, in, (kh, kw)], up = B [out, r, (1, 1)], alpha = the scalar of the alpha/r scale. */
    public enum Part { DOWN, UP, ALPHA }

    /**
     * One file entry, understood: its layout, the module it belongs to in the file's own spelling
     * (the kohya stem, or for diffusers the component and the module's dotted path) and its part.
     *
     * @param module kohya: {@code lora_unet_...}; diffusers: the dotted module path under the component
     * @param component diffusers: the component the prefix names; kohya: null until {@link Index#resolve}
     */
    public record Key(String fileKey, Layout layout, Component component, String module, Part part) {}

    /** What a key updates: one weight of one component, under the name the model registers. */
    public record Target(Component component, String weight) {}

    private static final List<String> KOHYA_PREFIXES = List.of("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_");

    public static boolean isKohya(String fileKey) {
        for (String p : KOHYA_PREFIXES) {
            if (fileKey.startsWith(p)) return true;
        }
        return false;
    }

    /**
     * A variant this project recognises but does not apply, described for the error message
     * (DoRA, LyCORIS LoHa/LoKr/Tucker, full-weight diffs, SDXL's second text encoder), or null.
     */
    public static String unsupported(String fileKey) {
        if (fileKey.startsWith("lora_te2_") || fileKey.startsWith("text_encoder_2.")) {
            return "a second text encoder (SDXL)";
        }
        if (fileKey.endsWith(".dora_scale") || fileKey.contains("lora_magnitude_vector")) return "DoRA";
        if (fileKey.contains(".hada_")) return "LyCORIS LoHa";
        if (fileKey.contains(".lokr_")) return "LyCORIS LoKr";
        if (fileKey.endsWith(".lora_mid.weight")) return "LyCORIS LoCon with a Tucker-decomposed (lora_mid) kernel";
        if (fileKey.endsWith(".diff") || fileKey.endsWith(".diff_b")) return "full-weight differences (LyCORIS 'full')";
        return null;
    }

    /** Parses a file key; null when it is not a LoRA entry in either layout (reported as unknown). */
    public static Key parse(String fileKey) {
        return isKohya(fileKey) ? parseKohya(fileKey) : parseDiffusers(fileKey);
    }

    private static Key parseKohya(String fileKey) {
        int dot = fileKey.indexOf('.');
        if (dot < 0) return null;
        String stem = fileKey.substring(0, dot);
        Part part = switch (fileKey.substring(dot + 1)) {
            case "lora_down.weight" -> Part.DOWN;
            case "lora_up.weight" -> Part.UP;
            case "alpha" -> Part.ALPHA;
            default -> null;
        };
        return part == null ? null : new Key(fileKey, Layout.KOHYA, null, stem, part);
    }

    /** diffusers' spellings of the two matrices, longest first so that a suffix matches at most once. */
    private static final List<Map.Entry<String, Part>> DIFFUSERS_SUFFIXES = List.of(
            Map.entry(".lora_linear_layer.down.weight", Part.DOWN),
            Map.entry(".lora_linear_layer.up.weight", Part.UP),
            Map.entry(".lora.down.weight", Part.DOWN),
            Map.entry(".lora.up.weight", Part.UP),
            Map.entry("_lora.down.weight", Part.DOWN), // attention processors: to_q_lora, to_out_lora
            Map.entry("_lora.up.weight", Part.UP),
            Map.entry(".lora_A.weight", Part.DOWN),    // PEFT
            Map.entry(".lora_B.weight", Part.UP),
            Map.entry(".alpha", Part.ALPHA));

    private static Key parseDiffusers(String fileKey) {
        Component component;
        String rest;
        if (fileKey.startsWith("unet.")) {
            component = Component.UNET;
            rest = fileKey.substring("unet.".length());
        } else if (fileKey.startsWith("base_model.model.")) {
            // a PEFT adapter saved by peft itself (adapter_model.safetensors of get_peft_model(unet, ...)),
            // as the LCM repository's training script writes it: the UNet under PEFT's wrapper names
            component = Component.UNET;
            rest = fileKey.substring("base_model.model.".length());
        } else if (fileKey.startsWith("text_encoder.")) {
            component = Component.TEXT_ENCODER;
            rest = fileKey.substring("text_encoder.".length());
        } else {
            // the oldest diffusers files (load_attn_procs) hold the UNet without a prefix
            component = fileKey.startsWith("text_model.") ? Component.TEXT_ENCODER : Component.UNET;
            rest = fileKey;
        }
        for (Map.Entry<String, Part> s : DIFFUSERS_SUFFIXES) {
            if (!rest.endsWith(s.getKey())) continue;
            String module = rest.substring(0, rest.length() - s.getKey().length());
            if (s.getKey().startsWith("_lora")) module = processorModule(module, component);
            module = module.replace(".processor.", ".");
            return module.isEmpty() ? null : new Key(fileKey, Layout.DIFFUSERS, component, module, s.getValue());
        }
        return null;
    }

    /**
     * Attention-processor LoRAs name the projection after diffusers' Attention ({@code to_q},
     * {@code to_out}); the CLIP text encoder calls them {@code q_proj} ... {@code out_proj}, and the
     * UNet's output projection is {@code to_out.0} (to_out.1 is Dropout).
     */
    private static String processorModule(String module, Component component) {
        int dot = module.lastIndexOf('.');
        String parent = module.substring(0, dot + 1);
        String leaf = module.substring(dot + 1);
        if (component == Component.TEXT_ENCODER) {
            return parent + switch (leaf) {
                case "to_q" -> "q_proj";
                case "to_k" -> "k_proj";
                case "to_v" -> "v_proj";
                case "to_out" -> "out_proj";
                default -> leaf;
            };
        }
        return leaf.equals("to_out") ? parent + "to_out.0" : module;
    }

    /**
     * The weights of one model pair that a LoRA may update, indexed under every spelling a file
     * may use. Built once per pipeline from the models' registered names.
     */
    public static final class Index {
        private final Map<Component, Set<String>> weights;
        private final Map<String, Target> kohya = new HashMap<>();

        /**
         * @param unetWeights        the UNet's parameter names (e.g. from {@link ModuleTensors#namedTensors})
         * @param textEncoderWeights the text encoder's
         */
        public Index(Collection<String> unetWeights, Collection<String> textEncoderWeights) {
            this.weights = Map.of(Component.UNET, Set.copyOf(unetWeights), Component.TEXT_ENCODER, Set.copyOf(textEncoderWeights));
            for (String w : unetWeights) {
                if (w.endsWith(".weight")) putKohya("lora_unet_", w, new Target(Component.UNET, w));
            }
            for (String w : textEncoderWeights) {
                if (!w.endsWith(".weight")) continue;
                putKohya("lora_te_", w, new Target(Component.TEXT_ENCODER, w));
                putKohya("lora_te1_", w, new Target(Component.TEXT_ENCODER, w)); // SDXL's first encoder, same names
            }
            // The LDM spelling of the same UNet (kohya files converted from other tools).
            if (LdmKeyMap.hasPrefix(unetWeights, "down_blocks.")) {
                LdmKeyMap.Plan ldm = LdmKeyMap.unet(LdmKeyMap.UNetLayout.fromDiffusers(unetWeights)).toLdm(unetWeights, "");
                ldm.targets().forEach((ldmName, transform) -> {
                    if (ldmName.endsWith(".weight") && transform instanceof TensorTransform.Same same) {
                        putKohya("lora_unet_", ldmName, new Target(Component.UNET, same.source()));
                    }
                });
            }
        }

        private void putKohya(String prefix, String weight, Target target) {
            String stem = prefix + weight.substring(0, weight.length() - ".weight".length()).replace('.', '_');
            Target previous = kohya.put(stem, target);
            if (previous != null && !previous.equals(target)) {
                throw new IllegalStateException("kohya name " + stem + " is ambiguous: " + previous + " and " + target);
            }
        }

        /** The weight a parsed key updates, or null when this model has no such module. */
        public Target resolve(Key key) {
            if (key.layout() == Layout.KOHYA) return kohya.get(key.module());
            String weight = key.module() + ".weight";
            return weights.get(key.component()).contains(weight) ? new Target(key.component(), weight) : null;
        }
    }
}
