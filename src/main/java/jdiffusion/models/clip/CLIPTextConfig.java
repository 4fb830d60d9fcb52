package jdiffusion.models.clip;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.stream.Collectors;
import jdiffusion.JDiffusionException;

/**
 * transformers {@code CLIPTextConfig}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/configuration_clip.py">configuration_clip.py</a>):
 * the architecture of a CLIP text encoder, as its {@code config.json} spells it.
 *
 * <p>Components are the camelCase of the JSON keys; defaults are those of the transformers
 * constructor (openai/clip-vit-base-patch32), so a key missing from a file means what it means
 * there. Keys this port does not use ({@code architectures}, {@code torch_dtype}, {@code dropout},
 * ...) are ignored.
 *
 * @param eosTokenId decides how the pooled token is found: the published SD 1.x/2.x files carry the
 *     pre-2023 value 2, for which transformers keeps the legacy rule (argmax of the ids); any other
 *     value selects the first position holding that id (see {@link CLIPTextTransformer}).
 */
public record CLIPTextConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int projectionDim,
        int numHiddenLayers,
        int numAttentionHeads,
        int maxPositionEmbeddings,
        HiddenAct hiddenAct,
        double layerNormEps,
        double attentionDropout,
        double initializerRange,
        double initializerFactor,
        int padTokenId,
        int bosTokenId,
        int eosTokenId) {

    /** The activations of the CLIP text encoders this port runs ({@code ACT2FN} names). */
    public enum HiddenAct {
        /** x * sigmoid(1.702 x): OpenAI CLIP, SD 1.x. */
        QUICK_GELU("quick_gelu"),
        /** Exact erf GELU: OpenCLIP ViT-H, SD 2.x. */
        GELU("gelu");

        private final String configName;

        HiddenAct(String configName) {
            this.configName = configName;
        }

        @JsonValue
        public String configName() {
            return configName;
        }

        @JsonCreator
        public static HiddenAct fromConfigName(String name) {
            for (HiddenAct a : values()) {
                if (a.configName.equals(name)) return a;
            }
            throw new JDiffusionException("hidden_act '" + name + "' is not supported; this port implements "
                    + java.util.Arrays.stream(values()).map(a -> "'" + a.configName + "'")
                            .collect(Collectors.joining(" and ")) + " (SD 1.x and SD 2.x text encoders)");
        }
    }

    /**
     * The SD 1.x text encoder, OpenAI CLIP ViT-L/14, as stable-diffusion-v1-5's
     * {@code text_encoder/config.json} gives it (including its legacy bos 0 / eos 2).
     */
    public static final CLIPTextConfig SD_1_5 = new CLIPTextConfig(
            49408, 768, 3072, 768, 12, 12, 77, HiddenAct.QUICK_GELU, 1e-5, 0.0, 0.02, 1.0, 1, 0, 2);

    /**
     * The SD 2.x text encoder, OpenCLIP ViT-H/14 without its last layer (23 of 24; SD 2 uses the
     * penultimate layer, so diffusers ships only 23), as stable-diffusion-2-1's config.json gives it.
     */
    public static final CLIPTextConfig SD_2_1 = new CLIPTextConfig(
            49408, 1024, 4096, 512, 23, 16, 77, HiddenAct.GELU, 1e-5, 0.0, 0.02, 1.0, 1, 0, 2);

    private static final ObjectMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .build();

    public CLIPTextConfig {
        require(vocabSize > 0, "vocab_size", vocabSize, "must be positive");
        require(hiddenSize > 0, "hidden_size", hiddenSize, "must be positive");
        require(intermediateSize > 0, "intermediate_size", intermediateSize, "must be positive");
        require(projectionDim > 0, "projection_dim", projectionDim, "must be positive");
        require(numHiddenLayers > 0, "num_hidden_layers", numHiddenLayers, "must be positive");
        require(numAttentionHeads > 0, "num_attention_heads", numAttentionHeads, "must be positive");
        require(hiddenSize % numAttentionHeads == 0, "hidden_size", hiddenSize,
                "must be divisible by num_attention_heads (" + numAttentionHeads + ")");
        require(maxPositionEmbeddings > 0, "max_position_embeddings", maxPositionEmbeddings, "must be positive");
        require(hiddenAct != null, "hidden_act", null, "is required ('quick_gelu' or 'gelu')");
        require(layerNormEps > 0, "layer_norm_eps", layerNormEps, "must be positive");
        require(eosTokenId >= 0 && eosTokenId < vocabSize, "eos_token_id", eosTokenId,
                "must be a token id below vocab_size (" + vocabSize + ")");
    }

    /** The defaults of transformers' {@code CLIPTextConfig()}. */
    public static CLIPTextConfig defaults() {
        return new CLIPTextConfig(49408, 512, 2048, 512, 12, 8, 77, HiddenAct.QUICK_GELU, 1e-5, 0.0, 0.02, 1.0,
                1, 49406, 49407);
    }

    /** Reads a transformers {@code config.json}; every error names the file and the key. */
    public static CLIPTextConfig fromJson(Path file) {
        JsonNode tree;
        try {
            tree = JSON.readTree(file.toFile());
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(file + ": file not found");
        } catch (IOException e) {
            if (!file.toFile().exists()) throw new JDiffusionException(file + ": file not found");
            throw new JDiffusionException(file + ": not valid JSON (" + message(e) + ")", e);
        }
        if (tree == null || !tree.isObject()) {
            throw new JDiffusionException(file + ": expected a JSON object with the text encoder's config");
        }
        checkKind(file, tree);
        return fromTree(file, tree);
    }

    /**
     * The text tower of a {@code CLIPModel} config.json ({@code text_config}, with the top-level
     * {@code projection_dim}); a file without one is a one-line error.
     */
    public static CLIPTextConfig fromCLIPModelJson(Path file) {
        JsonNode tree;
        try {
            tree = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new JDiffusionException(file + ": cannot read the CLIP config (" + message(e) + ")", e);
        }
        JsonNode text = tree == null ? null : tree.get("text_config");
        if (text == null || !text.isObject()) {
            throw new JDiffusionException(file + " has no text_config: not a CLIPModel folder with a text side");
        }
        ObjectNode copy = ((ObjectNode) text).deepCopy();
        copy.remove("model_type");
        if (tree.has("projection_dim")) copy.set("projection_dim", tree.get("projection_dim"));
        return fromTree(file, copy);
    }

    private static CLIPTextConfig fromTree(Path file, JsonNode tree) {
        // The file's keys over the transformers defaults: a missing key takes the default value.
        ObjectNode merged = JSON.valueToTree(defaults());
        merged.setAll((ObjectNode) tree);
        try {
            return JSON.treeToValue(merged, CLIPTextConfig.class);
        } catch (JacksonException e) {
            JDiffusionException ours = findCause(e);
            if (ours != null) throw new JDiffusionException(file + ": " + ours.getMessage(), e);
            String key = e instanceof JsonMappingException m && !m.getPath().isEmpty()
                    ? m.getPath().getLast().getFieldName() : null;
            throw new JDiffusionException(file + ": " + (key != null ? key + ": " : "") + message(e), e);
        }
    }

    /** A diffusers component config or a full CLIPConfig would silently take the defaults: refuse them. */
    private static void checkKind(Path file, JsonNode tree) {
        String modelType = tree.path("model_type").asText(null);
        if (modelType != null && !modelType.equals("clip_text_model")) {
            throw new JDiffusionException(file + ": model_type is '" + modelType
                    + "', expected 'clip_text_model'; point at the pipeline's text_encoder folder");
        }
        String className = tree.path("_class_name").asText(null);
        if (className != null && !className.startsWith("CLIPTextModel")) {
            throw new JDiffusionException(file + ": this is the config of a " + className
                    + ", not of a CLIPTextModel; point at the pipeline's text_encoder folder");
        }
    }

    /** Size of one attention head: transformers' {@code head_dim}. */
    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** transformers' legacy pooling rule for configs saved before PR #24773 (eos_token_id 2). */
    public boolean legacyEosPooling() {
        return eosTokenId == 2;
    }

    private static void require(boolean ok, String key, Object value, String what) {
        if (!ok) throw new JDiffusionException(key + (value == null ? " " : " = " + value + " ") + what);
    }

    private static JDiffusionException findCause(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof JDiffusionException j) return j;
        }
        return null;
    }

    /** Jackson's own message without the location lines it appends. */
    private static String message(JacksonException e) {
        String m = e.getOriginalMessage();
        return m == null ? e.getClass().getSimpleName() : m.lines().findFirst().orElse(m);
    }

    private static String message(IOException e) {
        return e instanceof JacksonException j ? message(j) : e.getMessage();
    }
}
