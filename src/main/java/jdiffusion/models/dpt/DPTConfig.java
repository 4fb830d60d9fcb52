package jdiffusion.models.dpt;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.models.ConfigJson;

/**
 * The {@code config.json} of transformers' {@code DPTForDepthEstimation}
 * (https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/dpt/configuration_dpt.py)
 * in its hybrid form ({@code Intel/dpt-hybrid-midas}, the {@code depth_estimator/} of
 * stabilityai/stable-diffusion-2-depth): a BiT backbone ({@link BitConfig}), a ViT on its last
 * stage, DPT's reassemble/fusion neck and depth head. Components are the camelCase of the keys.
 *
 * @param backboneOutIndices the ViT layers the neck reads: in the hybrid form entries 2 and 3 (0-based
 *                           layer outputs); the first two neck inputs are BiT stages 1 and 2
 * @param reassembleFactors  per neck stage: 1 keeps the token grid, 0.5 halves it (a strided 3x3 conv)
 */
public record DPTConfig(int hiddenSize, int numHiddenLayers, int numAttentionHeads, int intermediateSize,
                        String hiddenAct, double layerNormEps, int imageSize, int patchSize, int numChannels,
                        boolean qkvBias, boolean isHybrid, List<Integer> backboneOutIndices,
                        List<Integer> neckHiddenSizes, List<Double> reassembleFactors, int fusionHiddenSize,
                        int headInIndex, String readoutType, List<Integer> neckIgnoreStages,
                        boolean useBatchNormInFusionResidual, Boolean useBiasInFusionResidual, boolean addProjection,
                        List<Integer> backboneFeatmapShape, BitConfig backboneConfig) {
    public DPTConfig {
        require(isHybrid, "is_hybrid", "is false; only the hybrid DPT (BiT + ViT, Intel/dpt-hybrid-midas) is built");
        require(backboneConfig != null, "backbone_config", "is missing; a hybrid DPT needs its BiT configuration");
        require(hiddenSize % numAttentionHeads == 0, "hidden_size", "must be a multiple of num_attention_heads");
        require("gelu".equals(hiddenAct), "hidden_act", "is \"" + hiddenAct + "\"; supported: gelu");
        require("project".equals(readoutType), "readout_type", "must be \"project\" for DPT-Hybrid (as transformers requires)");
        require(neckHiddenSizes.size() == 4 && reassembleFactors.size() == 4, "neck_hidden_sizes/reassemble_factors",
                "must have 4 entries (2 BiT stages + 2 ViT layers)");
        require(backboneOutIndices.size() == 4, "backbone_out_indices", "must have 4 entries");
        require(neckIgnoreStages.equals(List.of(0, 1)), "neck_ignore_stages", "must be [0, 1] for DPT-Hybrid");
        require(!useBatchNormInFusionResidual, "use_batch_norm_in_fusion_residual", "must be false (as in the depth models)");
        require(!addProjection, "add_projection", "must be false (as in the depth models)");
        require(headInIndex == -1, "head_in_index", "must be -1");
        for (double f : reassembleFactors) {
            require(f == 1 || f == 0.5, "reassemble_factors", "entries 1 or 0.5 are built (the hybrid's), found " + reassembleFactors);
        }
        require(backboneConfig.stageChannels(backboneConfig.depths().size() - 1) > 0, "backbone_config", "has no stages");
        backboneOutIndices = List.copyOf(backboneOutIndices);
        neckHiddenSizes = List.copyOf(neckHiddenSizes);
        reassembleFactors = List.copyOf(reassembleFactors);
        neckIgnoreStages = List.copyOf(neckIgnoreStages);
    }

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new JDiffusionException("DPTConfig: '" + key + "' " + problem);
    }

    /** Biases in the fusion's residual convolutions: {@code use_bias_in_fusion_residual}, else not batch-norm. */
    public boolean fusionResidualBias() {
        return useBiasInFusionResidual != null ? useBiasInFusionResidual : !useBatchNormInFusionResidual;
    }

    /**
     * Intel/dpt-hybrid-midas, the {@code depth_estimator/config.json} of stabilityai/stable-diffusion-2-depth:
     * BiT [3, 4, 9] layers of width 256/512/1024, a ViT-B/16 at 384 pixels (12 layers, 768 wide), neck
     * 256/512/768/768, fusion 256.
     */
    public static DPTConfig dptHybridMidas() {
        BitConfig bit = new BitConfig(3, 64, List.of(256, 512, 1024), List.of(3, 4, 9), "bottleneck", "relu", "same", 32,
                true, 1, 32, List.of("stage1", "stage2", "stage3"));
        return new DPTConfig(768, 12, 12, 3072, "gelu", 1e-12, 384, 16, 3, true, true, List.of(2, 5, 8, 11),
                List.of(256, 512, 768, 768), List.of(1.0, 1.0, 1.0, 0.5), 256, -1, "project", List.of(0, 1), false, null,
                false, List.of(1, 1024, 24, 24), bit);
    }

    public static DPTConfig fromJson(Path file) {
        ConfigJson c = ConfigJson.read(file, "DPTForDepthEstimation");
        ConfigJson backbone = c.child("backbone_config");
        return c.build(() -> new DPTConfig(
                c.getInt("hidden_size", 768),
                c.getInt("num_hidden_layers", 12),
                c.getInt("num_attention_heads", 12),
                c.getInt("intermediate_size", 3072),
                c.getString("hidden_act", "gelu"),
                c.getDouble("layer_norm_eps", 1e-12),
                c.getInt("image_size", 384),
                c.getInt("patch_size", 16),
                c.getInt("num_channels", 3),
                c.getBoolean("qkv_bias", true),
                c.getBoolean("is_hybrid", false),
                c.getIntList("backbone_out_indices", List.of(2, 5, 8, 11)),
                c.getIntList("neck_hidden_sizes", List.of(96, 192, 384, 768)),
                doubles(c.getOptionalDoubleList("reassemble_factors")),
                c.getInt("fusion_hidden_size", 256),
                c.getInt("head_in_index", -1),
                c.getString("readout_type", "project"),
                c.getIntList("neck_ignore_stages", List.of(0, 1)),
                c.getBoolean("use_batch_norm_in_fusion_residual", false),
                c.getOptionalBoolean("use_bias_in_fusion_residual"),
                c.getBoolean("add_projection", false),
                c.getIntList("backbone_featmap_shape", List.of(1, 1024, 24, 24)),
                backbone == null ? null : BitConfig.from(backbone)));
    }

    private static List<Double> doubles(List<Double> v) {
        return v == null ? List.of(4.0, 2.0, 1.0, 0.5) : v;
    }
}
