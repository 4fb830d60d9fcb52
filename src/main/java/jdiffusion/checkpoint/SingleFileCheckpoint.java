package jdiffusion.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextConfig;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.weights.LdmKeyMap;
import jdiffusion.weights.StateDict;

/**
 * A single-file Stable Diffusion 1.x/2.x checkpoint in the original LDM layout, as AUTOMATIC1111
 * and ComfyUI load it ({@code .safetensors}, or a PyTorch {@code .ckpt} read by the restricted
 * unpickler), seen as diffusers components: for the UNet, the VAE and the text encoder, a
 * {@link StateDict} under diffusers names (views of the file, converted lazily) and the
 * {@code config.json} diffusers would use, detected from tensor shapes ({@link ConfigDetector}).
 *
 * <pre>{@code
 * try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(Path.of("v1-5-pruned-emaonly.safetensors"))) {
 *     CLIPTextModel te = new CLIPTextModel(ckpt.clipTextConfig());
 *     WeightLoader.load(te, ckpt.textEncoder(), "text encoder");
 * }
 * }</pre>
 *
 * <p>The state dicts are valid until {@link #close}.
 */
public final class SingleFileCheckpoint implements AutoCloseable {
    /** Metadata keys under which {@link SingleFileExport} stores the diffusers configs it converted from. */
    public static final String METADATA_UNET = "jdiffusion.unet_config";
    public static final String METADATA_VAE = "jdiffusion.vae_config";
    public static final String METADATA_TEXT_ENCODER = "jdiffusion.text_encoder_config";
    public static final String METADATA_SCHEDULER = "jdiffusion.scheduler_config";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** LatentDiffusion training buffers (ldm/models/diffusion/ddpm.py register_schedule): not model weights. */
    private static final Set<String> SCHEDULE_BUFFERS = Set.of("betas", "alphas_cumprod", "alphas_cumprod_prev",
            "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
            "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
            "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "logvar", "lvlb_weights");

    public enum Version {
        SD1("SD 1.x"), SD2("SD 2.x");

        private final String label;

        Version(String label) {
            this.label = label;
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /** What the UNet's input holds besides the 4 latent channels. */
    public enum Variant {
        TEXT_TO_IMAGE(4, "text-to-image"), DEPTH(5, "depth (latents + depth map)"),
        INPAINTING(9, "inpainting (latents + mask + masked-image latents)");

        private final int inChannels;
        private final String label;

        Variant(int inChannels, String label) {
            this.inChannels = inChannels;
            this.label = label;
        }

        public int inChannels() {
            return inChannels;
        }

        @Override
        public String toString() {
            return label;
        }

        static Variant of(long inChannels) {
            for (Variant v : values()) {
                if (v.inChannels == inChannels) return v;
            }
            throw new JDiffusionException("the UNet takes " + inChannels + " input channels; SD models take 4 (text-to-image), "
                    + "5 (depth) or 9 (inpainting)" + (inChannels == 8 ? "; 8 is InstructPix2Pix, which jdiffusion does not run" : ""));
        }
    }


    /**
     * What the weights cannot say. {@code predictionType} overrides every other source;
     * {@code originalConfig} is an original LDM inference YAML/JSON. Either may be null.
     */
    public record Options(PredictionType predictionType, Path originalConfig) {
        public static final Options DEFAULT = new Options(null, null);

        public Options {
            if (predictionType == PredictionType.SAMPLE) {
                throw new JDiffusionException("unknown prediction type 'sample' for a Stable Diffusion checkpoint: use epsilon or v_prediction");
            }
        }
    }

    private final Path path;
    private final CheckpointFile file;
    private final Version version;
    private final Variant variant;
    private final ConfigDetector.Prediction prediction;
    private final boolean openClip;
    private final StateDict unet;
    private final StateDict vae;
    private final StateDict textEncoder;
    private final Detected unetConfig;
    private final Detected vaeConfig;
    private final Detected textEncoderConfig;
    private final ObjectNode schedulerConfig;
    private final List<String> notes;

    private SingleFileCheckpoint(Path path, CheckpointFile file, Version version, Variant variant,
                                 ConfigDetector.Prediction prediction, boolean openClip,
                                 StateDict unet, StateDict vae, StateDict textEncoder,
                                 Detected unetConfig, Detected vaeConfig, Detected textEncoderConfig,
                                 ObjectNode schedulerConfig, List<String> notes) {
        this.path = path;
        this.file = file;
        this.version = version;
        this.variant = variant;
        this.prediction = prediction;
        this.openClip = openClip;
        this.unet = unet;
        this.vae = vae;
        this.textEncoder = textEncoder;
        this.unetConfig = unetConfig;
        this.vaeConfig = vaeConfig;
        this.textEncoderConfig = textEncoderConfig;
        this.schedulerConfig = schedulerConfig;
        this.notes = List.copyOf(notes);
    }

    public static SingleFileCheckpoint open(Path path) {
        return open(path, Options.DEFAULT);
    }

    public static SingleFileCheckpoint open(Path path, Options options) {
        return open(path, CheckpointFile.open(path), options);
    }

    /** Takes over {@code file} (closed on failure too); {@code path} names it in messages. */
    static SingleFileCheckpoint open(Path path, CheckpointFile file, Options options) {
        try {
            return detect(path, file, options);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    private static SingleFileCheckpoint detect(Path path, CheckpointFile file, Options options) {
        StateDict raw = file.tensors();
        Set<String> keys = raw.keys();
        List<String> notes = new ArrayList<>();
        if (!LdmKeyMap.hasPrefix(keys, LdmKeyMap.UNET_PREFIX)) throw notRecognised(path, keys);
        OriginalConfig original = options.originalConfig() == null ? null : OriginalConfig.read(options.originalConfig());

        // 1. Rename each component's tensors to diffusers names (header shapes only).
        StateDict unet = component(raw, "UNet", LdmKeyMap.UNET_PREFIX,
                LdmKeyMap.unet(LdmKeyMap.UNetLayout.fromLdm(strip(keys, LdmKeyMap.UNET_PREFIX))), notes);
        StateDict vae = LdmKeyMap.hasPrefix(keys, LdmKeyMap.VAE_PREFIX)
                ? component(raw, "VAE", LdmKeyMap.VAE_PREFIX,
                        LdmKeyMap.vae(LdmKeyMap.VAELayout.fromLdm(strip(keys, LdmKeyMap.VAE_PREFIX))), notes)
                : null;
        boolean clip = LdmKeyMap.hasPrefix(keys, LdmKeyMap.CLIP_PREFIX);
        boolean openClip = LdmKeyMap.hasPrefix(keys, LdmKeyMap.OPEN_CLIP_PREFIX);
        if (clip && openClip) {
            throw new JDiffusionException(path + " holds two text encoders (" + LdmKeyMap.CLIP_PREFIX + "* and "
                    + LdmKeyMap.OPEN_CLIP_PREFIX + "*); an SD 1.x/2.x checkpoint has one");
        }
        StateDict textEncoder = null;
        if (clip) {
            textEncoder = component(raw, "text encoder", LdmKeyMap.CLIP_PREFIX, LdmKeyMap.clip(), notes);
        } else if (openClip) {
            int layers = LdmKeyMap.openClipLayers(strip(keys, LdmKeyMap.OPEN_CLIP_PREFIX));
            textEncoder = component(raw, "text encoder", LdmKeyMap.OPEN_CLIP_PREFIX, LdmKeyMap.openClip(layers), notes);
            if (layers == 24) notes.add("OpenCLIP resblock 23 left out: SD 2.x conditions on the penultimate layer");
        }
        noteLeftovers(keys, notes);

        // 2. Which model this is: from shapes, never from tensor data.
        ObjectNode unetShapes = ConfigDetector.unetShapes(unet);
        Variant variant = Variant.of(unetShapes.get("in_channels").asLong());
        Version version = textEncoder != null ? (openClip ? Version.SD2 : Version.SD1)
                : unetShapes.get("use_linear_projection").asBoolean() || unetShapes.get("cross_attention_dim").asInt() == 1024
                        ? Version.SD2 : Version.SD1;
        if (textEncoder != null) {
            long width = textEncoder.shape("text_model.embeddings.token_embedding.weight")[1];
            if (width != unetShapes.get("cross_attention_dim").asLong()) {
                throw new JDiffusionException(path + ": the text encoder is " + width + " wide but the UNet cross-attends to "
                        + unetShapes.get("cross_attention_dim") + "-wide states; the components come from different models");
            }
        }
        if (original != null && original.condStageTarget() != null && textEncoder != null && original.usesOpenClip() != openClip) {
            throw new JDiffusionException(original.source() + " describes a model conditioned by " + original.condStageTarget()
                    + ", but the checkpoint holds " + (openClip ? "an OpenCLIP (SD 2.x)" : "a CLIP (SD 1.x)")
                    + " text encoder: the config belongs to another model");
        }

        // 3. Configs: shapes, then the options, the original config, our own metadata, the SD defaults.
        Map<String, String> metadata = file.metadata();
        ConfigDetector.Hints hints = new ConfigDetector.Hints(
                embedded(metadata, METADATA_UNET, notes), embedded(metadata, METADATA_VAE, notes),
                embedded(metadata, METADATA_TEXT_ENCODER, notes), embedded(metadata, METADATA_SCHEDULER, notes),
                original, options.predictionType(), file.globalStep());
        ConfigDetector.Prediction prediction = ConfigDetector.prediction(version, variant, hints);
        Detected unetConfig = Detected.of(() -> ConfigDetector.unet(unet, version, variant, prediction.type(), hints, notes));
        Detected vaeConfig = vae == null ? null
                : Detected.of(() -> ConfigDetector.vae(vae, version, prediction.type(), hints, notes));
        StateDict text = textEncoder;
        Detected textConfig = text == null ? null
                : Detected.of(() -> ConfigDetector.textEncoder(text, openClip, hints, notes));
        ObjectNode scheduler = ConfigDetector.scheduler(version, prediction.type(), hints);
        return new SingleFileCheckpoint(path, file, version, variant, prediction, openClip, unet, vae, textEncoder,
                unetConfig, vaeConfig, textConfig, scheduler, notes);
    }

    /**
     * A detected config, or why there is none. A config the shapes and hints cannot settle (the
     * head count of a non-standard model, say) fails only when asked for: the tensors are still
     * readable, and the error can say what to pass.
     */
    private record Detected(ObjectNode config, JDiffusionException problem) {
        static Detected of(java.util.function.Supplier<ObjectNode> detect) {
            try {
                return new Detected(detect.get(), null);
            } catch (JDiffusionException e) {
                return new Detected(null, e);
            }
        }

        ObjectNode get() {
            if (problem != null) throw new JDiffusionException(problem.getMessage(), problem);
            return config.deepCopy();
        }
    }

    /** One component under diffusers names; every tensor under its prefix must find a name. */
    private static StateDict component(StateDict raw, String what, String prefix, LdmKeyMap.Table table, List<String> notes) {
        LdmKeyMap.Plan plan = table.toDiffusers(raw.keys(), prefix);
        if (!plan.unmapped().isEmpty()) {
            List<String> shown = plan.unmapped().subList(0, Math.min(10, plan.unmapped().size()));
            throw new JDiffusionException(raw.description() + ": " + plan.unmapped().size() + " " + what
                    + " tensors do not belong to an SD 1.x/2.x " + what + ": " + String.join(", ", shown)
                    + (plan.unmapped().size() > shown.size() ? ", ..." : "")
                    + ". The checkpoint is of another architecture (SDXL, a ControlNet, ...) or damaged");
        }
        if (!plan.ignored().isEmpty()) {
            notes.add(plan.ignored().size() + " " + what + " tensors not used by diffusers left out (e.g. "
                    + plan.ignored().getFirst() + ")");
        }
        return raw.derive(plan.targets(), raw.description() + " (" + what + ", diffusers names)");
    }

    private static Set<String> strip(Set<String> keys, String prefix) {
        Set<String> out = new java.util.LinkedHashSet<>();
        for (String k : keys) {
            if (k.startsWith(prefix)) out.add(k.substring(prefix.length()));
        }
        return out;
    }

    /** Tensors outside the three components: training leftovers are expected, anything else is mentioned. */
    private static void noteLeftovers(Set<String> keys, List<String> notes) {
        int ema = 0;
        int schedule = 0;
        int depth = 0;
        Map<String, Integer> other = new TreeMap<>();
        for (String k : keys) {
            if (k.startsWith(LdmKeyMap.UNET_PREFIX) || k.startsWith(LdmKeyMap.VAE_PREFIX)
                    || k.startsWith(LdmKeyMap.CLIP_PREFIX) || k.startsWith(LdmKeyMap.OPEN_CLIP_PREFIX)) continue;
            if (k.startsWith("model_ema.")) ema++;
            else if (SCHEDULE_BUFFERS.contains(k)) schedule++;
            else if (k.startsWith("depth_model.")) depth++;
            else other.merge(topLevel(k), 1, Integer::sum);
        }
        if (ema > 0) notes.add(ema + " EMA tensors (model_ema.*) left out; the non-EMA UNet weights are used, as diffusers does by default");
        if (schedule > 0) notes.add(schedule + " noise-schedule buffers (betas, alphas_cumprod, ...) left out; the scheduler config defines them");
        if (depth > 0) notes.add(depth + " MiDaS depth-estimator tensors (depth_model.*) left out; a depth pipeline needs its own depth estimator");
        if (!other.isEmpty()) notes.add("tensors of no SD component left out: " + other);
    }

    private static JDiffusionException notRecognised(Path path, Set<String> keys) {
        Map<String, Integer> prefixes = new TreeMap<>();
        for (String k : keys) prefixes.merge(topLevel(k), 1, Integer::sum);
        String found = keys.isEmpty() ? "no tensors at all" : keys.size() + " tensors: " + summarise(prefixes);
        String hint;
        if (LdmKeyMap.hasPrefix(keys, "conditioner.embedders.")) {
            hint = "It looks like SDXL or another Stability 'sgm' model (conditioner.embedders.*), which jdiffusion does not run.";
        } else if (LdmKeyMap.hasPrefix(keys, "down_blocks.") && LdmKeyMap.hasPrefix(keys, "conv_in.")) {
            hint = "It looks like a diffusers UNet weights file: load its folder (with config.json) instead.";
        } else if (LdmKeyMap.hasPrefix(keys, "lora_") || LdmKeyMap.hasPrefix(keys, "lora.")) {
            hint = "It looks like a LoRA, which is applied to a model rather than loaded as one.";
        } else if (LdmKeyMap.hasPrefix(keys, "encoder.down.") && LdmKeyMap.hasPrefix(keys, "decoder.up.")) {
            hint = "It looks like a standalone VAE.";
        } else {
            hint = "Expected model.diffusion_model.* (UNet), first_stage_model.* (VAE) and cond_stage_model.* (text encoder).";
        }
        return new JDiffusionException(path + " is not a recognised Stable Diffusion 1.x/2.x checkpoint: it has no "
                + LdmKeyMap.UNET_PREFIX + "* tensors; found " + found + ". " + hint);
    }

    private static String topLevel(String key) {
        int dot = key.indexOf('.');
        return dot < 0 ? key : key.substring(0, dot) + ".*";
    }

    private static String summarise(Map<String, Integer> prefixes) {
        StringBuilder sb = new StringBuilder();
        int shown = 0;
        for (Map.Entry<String, Integer> e : prefixes.entrySet()) {
            if (shown++ == 8) {
                sb.append(", ... (").append(prefixes.size() - 8).append(" more)");
                break;
            }
            if (!sb.isEmpty()) sb.append(", ");
            sb.append(e.getKey()).append(" (").append(e.getValue()).append(')');
        }
        return sb.toString();
    }

    private static ObjectNode embedded(Map<String, String> metadata, String key, List<String> notes) {
        String json = metadata.get(key);
        if (json == null) return null;
        try {
            JsonNode node = JSON.readTree(json);
            if (node instanceof ObjectNode o) return o;
        } catch (java.io.IOException e) {
            // reported below
        }
        notes.add("metadata " + key + " is not a JSON object; ignored");
        return null;
    }

    // ---------------------------------------------------------------------------------------------

    public Path path() {
        return path;
    }

    public Version version() {
        return version;
    }

    public Variant variant() {
        return variant;
    }

    public PredictionType predictionType() {
        return prediction.type();
    }

    /** Why {@link #predictionType} is what it is (an option, a config, or a default to double-check). */
    public String predictionReason() {
        return prediction.reason();
    }

    /** True for SD 2.x's OpenCLIP text encoder, false for SD 1.x's CLIP (or when there is none). */
    public boolean openClip() {
        return openClip;
    }

    /** The UNet under diffusers names ({@code down_blocks.0.resnets.0.conv1.weight}, ...). */
    public StateDict unet() {
        return unet;
    }

    /** diffusers' {@code unet/config.json} for it (a copy). */
    public ObjectNode unetConfig() {
        return unetConfig.get();
    }

    public boolean hasVae() {
        return vae != null;
    }

    public StateDict vae() {
        if (vae == null) throw missing("VAE", LdmKeyMap.VAE_PREFIX);
        return vae;
    }

    public ObjectNode vaeConfig() {
        if (vae == null) throw missing("VAE", LdmKeyMap.VAE_PREFIX);
        return vaeConfig.get();
    }

    public boolean hasTextEncoder() {
        return textEncoder != null;
    }

    /** The text encoder as a transformers CLIPTextModel ({@code text_model.encoder.layers.0.self_attn.q_proj.weight}, ...). */
    public StateDict textEncoder() {
        if (textEncoder == null) throw missing("text encoder", "cond_stage_model.");
        return textEncoder;
    }

    /** transformers' {@code text_encoder/config.json} for it (a copy). */
    public ObjectNode textEncoderConfig() {
        if (textEncoder == null) throw missing("text encoder", "cond_stage_model.");
        return textEncoderConfig.get();
    }

    /** The same config as a {@link CLIPTextConfig}, ready for {@code new CLIPTextModel(config)}. */
    public CLIPTextConfig clipTextConfig() {
        ObjectNode c = textEncoderConfig();
        return new CLIPTextConfig(c.get("vocab_size").asInt(), c.get("hidden_size").asInt(),
                c.get("intermediate_size").asInt(), c.path("projection_dim").asInt(512), c.get("num_hidden_layers").asInt(),
                c.get("num_attention_heads").asInt(), c.get("max_position_embeddings").asInt(),
                CLIPTextConfig.HiddenAct.fromConfigName(c.get("hidden_act").asText()), c.path("layer_norm_eps").asDouble(1e-5),
                c.path("attention_dropout").asDouble(0.0), c.path("initializer_range").asDouble(0.02),
                c.path("initializer_factor").asDouble(1.0), c.path("pad_token_id").asInt(1),
                c.path("bos_token_id").asInt(0), c.path("eos_token_id").asInt(2));
    }

    /** diffusers' {@code scheduler/scheduler_config.json} for the model: SD 1.5's PNDM or SD 2.1's DDIM (a copy). */
    public ObjectNode schedulerConfig() {
        return schedulerConfig.deepCopy();
    }

    /** What was left out or assumed while reading the file, one line each, for the user. */
    public List<String> notes() {
        return Collections.unmodifiableList(notes);
    }

    /** One line: "SD 2.x text-to-image, v_prediction, OpenCLIP text encoder (23 layers)". */
    public String summary() {
        StringBuilder sb = new StringBuilder().append(version).append(' ').append(variant).append(", ").append(predictionType());
        if (textEncoder != null) {
            sb.append(", ").append(openClip ? "OpenCLIP" : "CLIP").append(" text encoder (")
                    .append(LdmKeyMap.countIndexed(textEncoder.keys(), "text_model.encoder.layers.")).append(" layers)");
        } else {
            sb.append(", no text encoder");
        }
        if (vae == null) sb.append(", no VAE");
        return sb.toString();
    }

    private JDiffusionException missing(String what, String prefix) {
        return new JDiffusionException(path + " holds no " + what + " (no " + prefix + "* tensors); supply one separately");
    }

    @Override
    public void close() {
        file.close();
    }
}
