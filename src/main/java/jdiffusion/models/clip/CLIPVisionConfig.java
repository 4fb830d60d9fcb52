package jdiffusion.models.clip;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;

/**
 * transformers {@code CLIPVisionConfig}
 * (https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/configuration_clip.py):
 * the image tower of CLIP, read from a {@code CLIPModel} config.json ({@code vision_config} and the
 * top-level {@code projection_dim}) or a {@code clip_vision_model} one. Defaults are those of
 * openai/clip-vit-base-patch32.
 *
 * <p>Example: {@code CLIPVisionConfig.fromJson(Path.of("clip-vit-base-patch32/config.json"))}.
 */
public record CLIPVisionConfig(int hiddenSize, int intermediateSize, int projectionDim, int numHiddenLayers,
                               int numAttentionHeads, int numChannels, int imageSize, int patchSize,
                               CLIPTextConfig.HiddenAct hiddenAct, double layerNormEps) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public CLIPVisionConfig {
        if (hiddenSize <= 0 || numAttentionHeads <= 0 || hiddenSize % numAttentionHeads != 0) {
            throw new JDiffusionException("CLIPVisionConfig: hidden_size " + hiddenSize + " must be a positive multiple of num_attention_heads "
                    + numAttentionHeads);
        }
        if (patchSize <= 0 || imageSize % patchSize != 0) {
            throw new JDiffusionException("CLIPVisionConfig: image_size " + imageSize + " must be a multiple of patch_size " + patchSize);
        }
        if (intermediateSize <= 0 || projectionDim <= 0 || numHiddenLayers <= 0 || numChannels <= 0) {
            throw new JDiffusionException("CLIPVisionConfig: sizes and counts must be positive");
        }
    }

    /** Patches per image side squared, plus the class token. */
    public int numPositions() {
        int side = imageSize / patchSize;
        return side * side + 1;
    }

    CLIPEncoderShape encoderShape() {
        return new CLIPEncoderShape(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, hiddenAct, layerNormEps, false);
    }

    /** The image tower of {@code file} (a CLIPModel or CLIPVisionModel config.json). */
    public static CLIPVisionConfig fromJson(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(file + ": file not found; a CLIP folder needs its config.json");
        } catch (IOException e) {
            if (!file.toFile().exists()) throw new JDiffusionException(file + ": file not found; a CLIP folder needs its config.json");
            throw new JDiffusionException(file + ": not valid JSON", e);
        }
        String type = root.path("model_type").asText("");
        JsonNode v;
        int projection;
        if (type.equals("clip")) {
            v = root.get("vision_config");
            if (v == null || !v.isObject()) {
                throw new JDiffusionException(file + " has no vision_config: this CLIP folder has no image side "
                        + "(CLIPVisionModelWithProjection needs one, e.g. openai/clip-vit-base-patch32)");
            }
            projection = root.path("projection_dim").asInt(v.path("projection_dim").asInt(512));
        } else if (type.equals("clip_vision_model")) {
            v = root;
            projection = root.path("projection_dim").asInt(512);
        } else {
            throw new JDiffusionException(file + ": model_type is '" + type + "', not a CLIP model with an image side "
                    + "(expected 'clip' or 'clip_vision_model'); a text encoder folder has no vision tower");
        }
        String act = v.path("hidden_act").asText("quick_gelu");
        CLIPTextConfig.HiddenAct hiddenAct = switch (act) {
            case "quick_gelu" -> CLIPTextConfig.HiddenAct.QUICK_GELU;
            case "gelu" -> CLIPTextConfig.HiddenAct.GELU;
            default -> throw new JDiffusionException(file + ": vision hidden_act '" + act + "' is not supported (quick_gelu, gelu)");
        };
        try {
            return new CLIPVisionConfig(v.path("hidden_size").asInt(768), v.path("intermediate_size").asInt(3072), projection,
                    v.path("num_hidden_layers").asInt(12), v.path("num_attention_heads").asInt(12), v.path("num_channels").asInt(3),
                    v.path("image_size").asInt(224), v.path("patch_size").asInt(32), hiddenAct, v.path("layer_norm_eps").asDouble(1e-5));
        } catch (JDiffusionException e) {
            throw new JDiffusionException(file + ": " + e.getMessage(), e);
        }
    }
}
