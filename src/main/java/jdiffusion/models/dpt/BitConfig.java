package jdiffusion.models.dpt;

import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.models.ConfigJson;

/**
 * transformers' {@code BitConfig}, the {@code backbone_config} of a hybrid DPT (BiT, the ResNet v2 of
 * "Big Transfer", as timm's ViT-hybrid uses it), restricted to the non-pre-activation "bottleneck"
 * layers DPT-Hybrid has. Components are the camelCase of the JSON keys; defaults are BitConfig's.
 *
 * @param globalPadding           "SAME" (TensorFlow's: dynamic for strided convolutions) or null (PyTorch's symmetric)
 * @param embeddingDynamicPadding the stem's max pool pads "SAME" as well
 * @param outFeatures             the stages the backbone returns; DPT-Hybrid needs exactly three
 */
public record BitConfig(int numChannels, int embeddingSize, List<Integer> hiddenSizes, List<Integer> depths,
                        String layerType, String hiddenAct, String globalPadding, int numGroups,
                        boolean embeddingDynamicPadding, int widthFactor, int outputStride, List<String> outFeatures) {
    public BitConfig {
        require(hiddenSizes.size() == depths.size() && !depths.isEmpty(), "hidden_sizes/depths", "must have one entry per stage");
        require("bottleneck".equals(layerType), "layer_type",
                "is \"" + layerType + "\"; DPT-Hybrid's BiT uses \"bottleneck\" (pre-activation layers are not built)");
        require("relu".equals(hiddenAct), "hidden_act", "is \"" + hiddenAct + "\"; supported: relu");
        require(globalPadding == null || globalPadding.equalsIgnoreCase("SAME"), "global_padding", "must be SAME or null");
        require(outFeatures.size() == 3, "out_features", "must name three stages (DPT-Hybrid takes stage 1, 2 and 3)");
        hiddenSizes = List.copyOf(hiddenSizes);
        depths = List.copyOf(depths);
        outFeatures = List.copyOf(outFeatures);
    }

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new JDiffusionException("BitConfig: '" + key + "' " + problem);
    }

    public boolean samePadding() {
        return globalPadding != null;
    }

    /** Output channels of stage {@code i}: {@code make_div(hidden_sizes[i] * width_factor)}. */
    public int stageChannels(int i) {
        return makeDiv(hiddenSizes.get(i) * widthFactor);
    }

    /** The bottleneck's inner width: {@code make_div(out * 0.25)}. */
    static int bottleneckChannels(int out) {
        return makeDiv(out * 0.25);
    }

    /** timm's make_div: round to a multiple of 8, at least 8, never more than 10 % below. */
    static int makeDiv(double value) {
        int divisor = 8;
        int v = Math.max(divisor, (int) (value + divisor / 2.0) / divisor * divisor);
        if (v < 0.9 * value) v += divisor;
        return v;
    }

    /** Stage index of an out_features name: "stage1" is the output of the first stage (index 0). */
    public int stageIndex(String feature) {
        if (!feature.startsWith("stage")) throw new JDiffusionException("BitConfig: out_features entry " + feature + " is not a stage");
        return Integer.parseInt(feature.substring(5)) - 1;
    }

    static BitConfig from(ConfigJson c) {
        return c.build(() -> new BitConfig(
                c.getInt("num_channels", 3),
                c.getInt("embedding_size", 64),
                c.getIntList("hidden_sizes", List.of(256, 512, 1024, 2048)),
                c.getIntList("depths", List.of(3, 4, 6, 3)),
                c.getString("layer_type", "preactivation"),
                c.getString("hidden_act", "relu"),
                c.getString("global_padding", null),
                c.getInt("num_groups", 32),
                c.getBoolean("embedding_dynamic_padding", false),
                c.getInt("width_factor", 1),
                c.getInt("output_stride", 32),
                c.getStringList("out_features", List.of("stage1", "stage2", "stage3"))));
    }
}
