package jdiffusion.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.PredictionType;

/**
 * The few values of an original LDM inference config ({@code v1-inference.yaml},
 * {@code v2-inference-v.yaml}, ... from CompVis/stable-diffusion and Stability-AI/stablediffusion,
 * YAML or the same tree as JSON) that a checkpoint's weights cannot tell: the parameterisation
 * (epsilon or v), the attention head layout and the latent scale factor.
 * Values that the weights do tell are kept to check the config belongs to the checkpoint.
 * Fields are null when the config does not set them.
 *
 * @param predictionType   {@code model.params.parameterization}: "v" is v_prediction, anything else
 *                         (LDM's default "eps") epsilon
 * @param numHeads         {@code unet_config.params.num_heads} (SD 1.x: 8); -1 or absent means unset
 * @param numHeadChannels  {@code unet_config.params.num_head_channels} (SD 2.x: 64)
 * @param scaleFactor      {@code model.params.scale_factor}, diffusers' VAE {@code scaling_factor}
 *
 * <p>Not read: {@code model.params.image_size}, which v2-inference-v.yaml leaves at 64 for a 768 px
 * model, so it does not tell the UNet's {@code sample_size} (diffusers ignores it too).
 */
public record OriginalConfig(
        Path source,
        PredictionType predictionType,
        Integer numHeads,
        Integer numHeadChannels,
        Double scaleFactor,
        Integer inChannels,
        Integer contextDim,
        Boolean useLinearInTransformer,
        Integer modelChannels,
        List<Integer> channelMult,
        Integer numResBlocks,
        String condStageTarget) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public static OriginalConfig read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new JDiffusionException(file + ": cannot read the config (" + e.getMessage() + ")", e);
        }
        JsonNode root;
        if (text.stripLeading().startsWith("{")) {
            try {
                root = JSON.readTree(text);
            } catch (IOException e) {
                throw new JDiffusionException(file + ": not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")", e);
            }
        } else {
            root = SimpleYaml.parse(file.toString(), text);
        }
        JsonNode params = root.path("model").path("params");
        if (!params.isObject()) {
            throw new JDiffusionException(file + ": no model.params section; pass the original LDM inference config "
                    + "(e.g. v1-inference.yaml or v2-inference-v.yaml), not a diffusers config.json");
        }
        JsonNode unet = params.path("unet_config").path("params");
        String parameterization = text(params, "parameterization");
        Integer numHeads = integer(file, unet, "num_heads");
        Integer numHeadChannels = integer(file, unet, "num_head_channels");
        return new OriginalConfig(file,
                "v".equals(parameterization) ? PredictionType.V_PREDICTION
                        : PredictionType.EPSILON,
                numHeads != null && numHeads > 0 ? numHeads : null,
                numHeadChannels != null && numHeadChannels > 0 ? numHeadChannels : null,
                number(file, params, "scale_factor"),
                integer(file, unet, "in_channels"),
                integer(file, unet, "context_dim"),
                unet.has("use_linear_in_transformer") ? unet.get("use_linear_in_transformer").asBoolean() : null,
                integer(file, unet, "model_channels"),
                integers(file, unet, "channel_mult"),
                integer(file, unet, "num_res_blocks"),
                text(params.path("cond_stage_config"), "target"));
    }

    private static String text(JsonNode node, String key) {
        JsonNode v = node.get(key);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static Integer integer(Path file, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) return null;
        if (!v.isIntegralNumber()) throw new JDiffusionException(file + ": " + key + " should be an integer, found " + v);
        return v.intValue();
    }

    private static Double number(Path file, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) return null;
        if (!v.isNumber()) throw new JDiffusionException(file + ": " + key + " should be a number, found " + v);
        return v.doubleValue();
    }

    private static List<Integer> integers(Path file, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v == null || v.isNull()) return null;
        if (!v.isArray()) throw new JDiffusionException(file + ": " + key + " should be a list of integers, found " + v);
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isIntegralNumber()) throw new JDiffusionException(file + ": " + key + " should hold integers, found " + v);
            out.add(e.intValue());
        }
        return List.copyOf(out);
    }

    /** SD 2.x configs condition on OpenCLIP ({@code ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder}). */
    public boolean usesOpenClip() {
        return condStageTarget != null && condStageTarget.endsWith("FrozenOpenCLIPEmbedder");
    }
}
