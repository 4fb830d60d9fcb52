package jdiffusion.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.checkpoint.SingleFileCheckpoint.Version;
import jdiffusion.io.DType;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.weights.LdmKeyMap;
import jdiffusion.weights.StateDict;

/**
 * The diffusers {@code config.json} of each component of a single-file checkpoint, detected as
 * sd.cpp's {@code detect_from_weights} does: from tensor shapes (headers only, never data).
 *
 * <p>What shapes cannot tell (attention heads, the latent scale factor, the sample size,
 * epsilon or v prediction, ...) comes, in this order, from: the user's options; the original LDM
 * config ({@link OriginalConfig}); the diffusers configs our own converter embeds in the file's
 * metadata (taken only when they agree with the shapes, so a file edited since is not
 * misdescribed); and last the published SD 1.5 / SD 2.1 values, as diffusers' single-file loader
 * falls back to the stable-diffusion-v1-5 and stable-diffusion-2-1 configs
 * (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/loaders/single_file_utils.py">single_file_utils.py</a>).
 */
final class ConfigDetector {
    static final String DIFFUSERS_VERSION = jdiffusion.io.DiffusersFolderWriter.DIFFUSERS_VERSION;
    static final String TRANSFORMERS_VERSION = "4.47.0";
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    /** Everything besides shapes that decides a config, with where each value came from. */
    record Hints(ObjectNode embeddedUnet, ObjectNode embeddedVae, ObjectNode embeddedTextEncoder,
                 ObjectNode embeddedScheduler, OriginalConfig original, PredictionType predictionOption,
                 Long globalStep) {}

    private ConfigDetector() {}

    // ---------------------------------------------------------------------------------------------
    // UNet

    /** The UNet config keys that the weights decide. */
    static ObjectNode unetShapes(StateDict unet) {
        var keys = unet.keys();
        LdmKeyMap.UNetLayout layout = LdmKeyMap.UNetLayout.fromDiffusers(keys);
        long[] convIn = unet.shape("conv_in.weight");   // [C0, in, k, k]
        long[] convOut = unet.shape("conv_out.weight"); // [out, C0, k, k]
        ArrayNode channels = NODES.arrayNode();
        ArrayNode down = NODES.arrayNode();
        ArrayNode up = NODES.arrayNode();
        for (int i = 0; i < layout.levels(); i++) {
            channels.add(dim(unet.shape("down_blocks." + i + ".resnets.0.conv1.weight")[0]));
            down.add(layout.downAttention().get(i) ? "CrossAttnDownBlock2D" : "DownBlock2D");
            up.add(layout.upAttention().get(i) ? "CrossAttnUpBlock2D" : "UpBlock2D");
        }
        if (!unet.contains("mid_block.attentions.0.proj_in.weight")) {
            throw new JDiffusionException(unet.description() + ": the UNet has no mid-block transformer; SD 1.x/2.x UNets all do");
        }
        Integer crossAttentionDim = null;
        Integer transformerDepth = null;
        Boolean linear = null;
        for (String k : keys) {
            if (k.endsWith(".attn2.to_k.weight")) {
                int dim = Math.toIntExact(unet.shape(k)[1]); // [inner, cross_attention_dim]
                if (crossAttentionDim != null && crossAttentionDim != dim) {
                    throw new JDiffusionException(unet.description() + ": cross-attention widths differ (" + crossAttentionDim
                            + " and " + dim + "); SD 1.x/2.x use one text encoder width throughout");
                }
                crossAttentionDim = dim;
            }
            if (k.endsWith(".proj_in.weight")) {
                boolean isLinear = unet.shape(k).length == 2; // Linear [C, C] (SD 2.x) or 1x1 conv [C, C, 1, 1]
                if (linear != null && linear != isLinear) {
                    throw new JDiffusionException(unet.description() + ": some transformers project with Linear layers and "
                            + "some with 1x1 convolutions; SD 1.x/2.x use one kind throughout");
                }
                linear = isLinear;
            }
            if (k.endsWith(".attentions.0.norm.weight")) {
                String block = k.substring(0, k.length() - "norm.weight".length());
                int depth = LdmKeyMap.countIndexed(keys, block + "transformer_blocks.");
                if (transformerDepth != null && transformerDepth != depth) {
                    throw new JDiffusionException(unet.description() + ": transformer depths differ between blocks ("
                            + transformerDepth + " and " + depth + "), which SD 1.x/2.x never do");
                }
                transformerDepth = depth;
            }
        }
        ObjectNode c = NODES.objectNode();
        c.set("block_out_channels", channels);
        c.put("conv_in_kernel", dim(convIn[2]));
        c.put("conv_out_kernel", dim(convOut[2]));
        c.put("cross_attention_dim", crossAttentionDim);
        c.set("down_block_types", down);
        c.put("in_channels", dim(convIn[1]));
        c.put("layers_per_block", layout.layersPerBlock());
        c.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        c.put("out_channels", dim(convOut[0]));
        // diffusers' default time embedding width is 4 x block_out_channels[0]; null means that.
        long timeDim = unet.shape("time_embedding.linear_1.weight")[0];
        if (timeDim == 4 * convIn[0]) c.putNull("time_embedding_dim");
        else c.put("time_embedding_dim", dim(timeDim));
        c.put("transformer_layers_per_block", transformerDepth == null ? 1 : transformerDepth);
        c.set("up_block_types", up);
        c.put("use_linear_projection", linear != null && linear);
        return c;
    }

    static ObjectNode unet(StateDict unet, Version version, SingleFileCheckpoint.Variant variant, PredictionType prediction,
                           Hints hints, List<String> notes) {
        ObjectNode shapes = unetShapes(unet);
        ObjectNode config = base(hints.embeddedUnet(), shapes, "UNet", notes);
        boolean embedded = config != null;
        if (config == null) config = unetDefaults(version, variant, prediction);
        config.setAll(shapes);
        sortKeys(config);
        List<Integer> channels = ints(config.get("block_out_channels"));
        OriginalConfig original = hints.original();
        if (original != null) {
            check(original, "in_channels", original.inChannels(), config.get("in_channels").asInt());
            check(original, "context_dim", original.contextDim(), config.get("cross_attention_dim").asInt());
            check(original, "use_linear_in_transformer", original.useLinearInTransformer(),
                    config.get("use_linear_projection").asBoolean());
            check(original, "num_res_blocks", original.numResBlocks(), config.get("layers_per_block").asInt());
            if (original.modelChannels() != null && original.channelMult() != null) {
                List<Integer> fromConfig = original.channelMult().stream().map(m -> m * original.modelChannels()).toList();
                check(original, "model_channels x channel_mult", fromConfig, channels);
            }
            if (original.numHeads() != null) {
                config.put("attention_head_dim", original.numHeads());
            } else if (original.numHeadChannels() != null) {
                config.set("attention_head_dim", headsFromWidth(channels, original.numHeadChannels(), original.source().toString()));
            }
        } else if (!embedded && version == Version.SD2) {
            // SD 2.x: num_head_channels 64 in v2-inference*.yaml, so heads = channels / 64 per block.
            config.set("attention_head_dim", headsFromWidth(channels, 64, "the SD 2.x default (64 channels per head)"));
        }
        checkHeads(config, channels);
        return config;
    }

    private static ObjectNode unetDefaults(Version version, SingleFileCheckpoint.Variant variant, PredictionType prediction) {
        // The keys and values of the published SD 1.5 / 2.1 unet/config.json (diffusers 0.31 spelling).
        ObjectNode c = NODES.objectNode();
        c.put("_class_name", "UNet2DConditionModel");
        c.put("_diffusers_version", DIFFUSERS_VERSION);
        c.put("act_fn", "silu");
        c.putNull("addition_embed_type");
        c.put("addition_embed_type_num_heads", 64);
        c.putNull("addition_time_embed_dim");
        c.put("attention_head_dim", 8); // SD 1.x: 8 heads everywhere (v1-inference.yaml num_heads: 8)
        c.put("attention_type", "default");
        c.put("center_input_sample", false);
        c.putNull("class_embed_type");
        c.put("class_embeddings_concat", false);
        c.putNull("cross_attention_norm");
        c.put("downsample_padding", 1);
        c.put("dropout", 0.0);
        c.put("dual_cross_attention", false);
        c.putNull("encoder_hid_dim");
        c.putNull("encoder_hid_dim_type");
        c.put("flip_sin_to_cos", true);
        c.put("freq_shift", 0);
        c.putNull("mid_block_only_cross_attention");
        c.put("mid_block_scale_factor", 1);
        c.put("norm_eps", 1e-05);
        c.put("norm_num_groups", 32);
        c.putNull("num_attention_heads");
        c.putNull("num_class_embeds");
        c.put("only_cross_attention", false);
        c.putNull("projection_class_embeddings_input_dim");
        c.put("resnet_out_scale_factor", 1.0);
        c.put("resnet_skip_time_act", false);
        c.put("resnet_time_scale_shift", "default");
        c.putNull("reverse_transformer_layers_per_block");
        // Latent size: 512 px / 8 = 64; SD 2.x v-prediction models are 768 px (diffusers' "v2" default).
        c.put("sample_size", version == Version.SD2 && prediction == PredictionType.V_PREDICTION ? 96 : 64);
        c.putNull("time_cond_proj_dim");
        c.putNull("time_embedding_act_fn");
        c.put("time_embedding_type", "positional");
        c.putNull("timestep_post_act");
        // stable-diffusion-2-1 upcasts attention (its fp16 softmax overflows); its inpainting and depth
        // siblings do not. Only precision depends on it.
        c.put("upcast_attention", version == Version.SD2 && variant == SingleFileCheckpoint.Variant.TEXT_TO_IMAGE);
        return c;
    }

    /** SD 2.x gives the head width, diffusers wants the head count per block: channels / width. */
    private static ArrayNode headsFromWidth(List<Integer> channels, int width, String source) {
        ArrayNode heads = NODES.arrayNode();
        for (int c : channels) {
            if (c % width != 0) {
                throw new JDiffusionException("cannot split the UNet's " + c + " channels into heads of " + width
                        + " (" + source + "); pass the model's original config with --config");
            }
            heads.add(c / width);
        }
        return heads;
    }

    private static void checkHeads(ObjectNode config, List<Integer> channels) {
        JsonNode heads = config.get("attention_head_dim");
        for (int i = 0; i < channels.size(); i++) {
            int h = heads.isArray() ? heads.path(i).asInt(0) : heads.asInt(0);
            if (h <= 0 || channels.get(i) % h != 0 || (heads.isArray() && heads.size() != channels.size())) {
                throw new JDiffusionException("attention_head_dim " + heads + " does not fit block_out_channels " + channels
                        + ": each block's channels must split evenly into its heads; pass the original config with --config");
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // VAE

    static ObjectNode vaeShapes(StateDict vae) {
        LdmKeyMap.VAELayout layout = LdmKeyMap.VAELayout.fromDiffusers(vae.keys());
        ArrayNode channels = NODES.arrayNode();
        ArrayNode down = NODES.arrayNode();
        ArrayNode up = NODES.arrayNode();
        for (int i = 0; i < layout.levels(); i++) {
            channels.add(dim(vae.shape("encoder.down_blocks." + i + ".resnets.0.conv1.weight")[0]));
            down.add("DownEncoderBlock2D");
            up.add("UpDecoderBlock2D");
        }
        ObjectNode c = NODES.objectNode();
        c.set("block_out_channels", channels);
        c.set("down_block_types", down);
        c.put("in_channels", dim(vae.shape("encoder.conv_in.weight")[1]));
        c.put("latent_channels", dim(vae.shape("decoder.conv_in.weight")[1]));
        c.put("layers_per_block", layout.layersPerBlock());
        c.put("mid_block_add_attention", vae.contains("encoder.mid_block.attentions.0.to_q.weight"));
        c.put("out_channels", dim(vae.shape("decoder.conv_out.weight")[0]));
        c.set("up_block_types", up);
        c.put("use_post_quant_conv", vae.contains("post_quant_conv.weight"));
        c.put("use_quant_conv", vae.contains("quant_conv.weight"));
        return c;
    }

    static ObjectNode vae(StateDict vae, Version version, PredictionType prediction, Hints hints, List<String> notes) {
        ObjectNode shapes = vaeShapes(vae);
        ObjectNode config = base(hints.embeddedVae(), shapes, "VAE", notes);
        if (config == null) {
            config = NODES.objectNode();
            config.put("_class_name", "AutoencoderKL");
            config.put("_diffusers_version", DIFFUSERS_VERSION);
            config.put("act_fn", "silu");
            config.put("force_upcast", true);
            config.putNull("latents_mean");
            config.putNull("latents_std");
            config.put("norm_num_groups", 32);
            // diffusers sets the VAE's sample_size to the image size: 768 for SD 2.x v models, else 512.
            config.put("sample_size", version == Version.SD2 && prediction == PredictionType.V_PREDICTION ? 768 : 512);
            config.put("scaling_factor", 0.18215); // LDM_VAE_DEFAULT_SCALING_FACTOR; scale_factor in the LDM configs
            config.putNull("shift_factor");
        }
        config.setAll(shapes);
        if (hints.original() != null && hints.original().scaleFactor() != null) {
            config.put("scaling_factor", hints.original().scaleFactor());
        }
        sortKeys(config);
        return config;
    }

    // ---------------------------------------------------------------------------------------------
    // Text encoder

    static ObjectNode textEncoderShapes(StateDict te, boolean openClip) {
        long[] tokens = te.shape("text_model.embeddings.token_embedding.weight");       // [vocab, hidden]
        long[] positions = te.shape("text_model.embeddings.position_embedding.weight"); // [positions, hidden]
        ObjectNode c = NODES.objectNode();
        c.put("hidden_act", openClip ? "gelu" : "quick_gelu"); // OpenCLIP ViT-H uses exact GELU, OpenAI CLIP quick_gelu
        c.put("hidden_size", dim(tokens[1]));
        c.put("intermediate_size", dim(te.shape("text_model.encoder.layers.0.mlp.fc1.weight")[0]));
        c.put("max_position_embeddings", dim(positions[0]));
        c.put("num_hidden_layers", LdmKeyMap.countIndexed(te.keys(), "text_model.encoder.layers."));
        c.put("vocab_size", dim(tokens[0]));
        return c;
    }

    static ObjectNode textEncoder(StateDict te, boolean openClip, Hints hints, List<String> notes) {
        ObjectNode shapes = textEncoderShapes(te, openClip);
        ObjectNode config = base(hints.embeddedTextEncoder(), shapes, "text encoder", notes);
        if (config == null) {
            // The published stable-diffusion-v1-5 / -2-1 text_encoder/config.json, legacy token ids included.
            config = NODES.objectNode();
            config.putArray("architectures").add("CLIPTextModel");
            config.put("attention_dropout", 0.0);
            config.put("bos_token_id", 0);
            config.put("dropout", 0.0);
            config.put("eos_token_id", 2);
            config.put("initializer_factor", 1.0);
            config.put("initializer_range", 0.02);
            config.put("layer_norm_eps", 1e-05);
            config.put("model_type", "clip_text_model");
            long hidden = shapes.get("hidden_size").asLong();
            if (hidden % 64 != 0) {
                throw new JDiffusionException("cannot tell the text encoder's attention heads: CLIP ViT-L and OpenCLIP ViT-H "
                        + "use heads of 64, which do not divide its width " + hidden);
            }
            config.put("num_attention_heads", dim(hidden / 64));
            config.put("pad_token_id", 1);
            config.put("projection_dim", openClip ? 512 : 768);
            config.put("transformers_version", TRANSFORMERS_VERSION);
        }
        config.setAll(shapes);
        config.put("torch_dtype", torchDtype(te.dtype("text_model.embeddings.token_embedding.weight")));
        sortKeys(config);
        return config;
    }

    private static String torchDtype(DType dtype) {
        return switch (dtype) {
            case F16 -> "float16";
            case BF16 -> "bfloat16";
            case F64 -> "float64";
            default -> "float32";
        };
    }

    // ---------------------------------------------------------------------------------------------
    // Scheduler and prediction type

    /** epsilon or v, and why: for the user, since a wrong guess gives grey or burnt images. */
    record Prediction(PredictionType type, String reason) {}

    static Prediction prediction(Version version, SingleFileCheckpoint.Variant variant, Hints hints) {
        if (hints.predictionOption() != null) return new Prediction(hints.predictionOption(), "--prediction-type");
        if (hints.original() != null) {
            return new Prediction(hints.original().predictionType(), "parameterization in " + hints.original().source());
        }
        if (hints.embeddedScheduler() != null) {
            String p = hints.embeddedScheduler().path("prediction_type").asText("epsilon");
            return new Prediction(PredictionType.parse(p), "the scheduler config stored in the file by jdiffusion convert");
        }
        if (version == Version.SD1) return new Prediction(PredictionType.EPSILON, "SD 1.x models predict noise");
        if (variant != SingleFileCheckpoint.Variant.TEXT_TO_IMAGE) {
            return new Prediction(PredictionType.EPSILON, "SD 2.x inpainting and depth models predict noise "
                    + "(v2-inpainting-inference.yaml, v2-midas-inference.yaml)");
        }
        if (hints.globalStep() != null && hints.globalStep() == 875000) {
            // diffusers' older converter: the SD 2.0-base release was saved at step 875000.
            return new Prediction(PredictionType.EPSILON, "global_step 875000 marks the SD 2.0 512-base model");
        }
        return new Prediction(PredictionType.V_PREDICTION, "SD 2.x defaults to the 768 px v-prediction model, as in "
                + "diffusers; pass --prediction-type epsilon for 512 px base models");
    }

    static ObjectNode scheduler(Version version, PredictionType prediction, Hints hints) {
        ObjectNode c;
        if (hints.embeddedScheduler() != null) {
            c = hints.embeddedScheduler().deepCopy();
        } else if (version == Version.SD1) {
            // stable-diffusion-v1-5 scheduler/scheduler_config.json, key for key.
            c = NODES.objectNode();
            c.put("_class_name", "PNDMScheduler");
            c.put("_diffusers_version", "0.6.0");
            c.put("beta_end", 0.012);
            c.put("beta_schedule", "scaled_linear");
            c.put("beta_start", 0.00085);
            c.put("num_train_timesteps", 1000);
            c.put("set_alpha_to_one", false);
            c.put("skip_prk_steps", true);
            c.put("steps_offset", 1);
            c.putNull("trained_betas");
            c.put("clip_sample", false);
        } else {
            // stabilityai/stable-diffusion-2-1 scheduler/scheduler_config.json, key for key.
            c = NODES.objectNode();
            c.put("_class_name", "DDIMScheduler");
            c.put("_diffusers_version", "0.8.0");
            c.put("beta_end", 0.012);
            c.put("beta_schedule", "scaled_linear");
            c.put("beta_start", 0.00085);
            c.put("clip_sample", false);
            c.put("num_train_timesteps", 1000);
            c.put("prediction_type", "v_prediction");
            c.put("set_alpha_to_one", false);
            c.put("skip_prk_steps", true);
            c.put("steps_offset", 1);
            c.putNull("trained_betas");
        }
        if (prediction == PredictionType.V_PREDICTION || c.has("prediction_type")) {
            c.put("prediction_type", prediction.configName());
        }
        return c;
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * The embedded config to start from, or null: an embedded config is used only when every
     * shape-decided value in it matches the weights (else the file changed after it was written).
     */
    private static ObjectNode base(ObjectNode embedded, ObjectNode shapes, String what, List<String> notes) {
        if (embedded == null) return null;
        for (Iterator<Map.Entry<String, JsonNode>> it = shapes.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode stored = embedded.get(e.getKey());
            if (stored != null && !normalise(stored).equals(normalise(e.getValue()))) {
                notes.add("the " + what + " config stored in the file says " + e.getKey() + " = " + stored
                        + " but the weights have " + e.getValue() + "; ignoring the stored config");
                return null;
            }
        }
        return embedded.deepCopy();
    }

    /** diffusers accepts an int or a per-block list for several keys: [2, 2, 2] means 2. Numbers compare by value. */
    private static JsonNode normalise(JsonNode v) {
        if (v.isArray() && !v.isEmpty()) {
            boolean same = true;
            for (JsonNode e : v) same &= normalise(e).equals(normalise(v.get(0)));
            if (same && v.get(0).isNumber()) return normalise(v.get(0));
            ArrayNode out = NODES.arrayNode();
            for (JsonNode e : v) out.add(normalise(e));
            return out;
        }
        if (v.isIntegralNumber()) return NODES.numberNode(v.longValue());
        if (v.isNumber()) return NODES.numberNode(v.doubleValue());
        return v;
    }

    private static void check(OriginalConfig original, String key, Object fromConfig, Object fromWeights) {
        if (fromConfig == null) return;
        Object a = fromConfig instanceof Integer i ? (Object) i.longValue() : fromConfig;
        Object b = fromWeights instanceof Integer i ? (Object) i.longValue() : fromWeights;
        if (!a.equals(b)) {
            throw new JDiffusionException(original.source() + " says " + key + " = " + fromConfig + " but the weights have "
                    + fromWeights + ": the config belongs to another model");
        }
    }

    /** save_pretrained writes config keys sorted, "_"-prefixed first; so do we, for stable files. */
    static void sortKeys(ObjectNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        names.sort(null);
        ObjectNode copy = node.deepCopy();
        node.removeAll();
        for (String n : names) node.set(n, copy.get(n));
    }

    static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : array) out.add(e.asInt());
        return out;
    }

    /** Config values are JSON ints, as in the files diffusers writes. */
    private static int dim(long d) {
        return Math.toIntExact(d);
    }
}
