package jdiffusion.models.unet;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jdiffusion.JDiffusionException;
import jdiffusion.models.ConfigJson;

/**
 * The {@code config.json} of a diffusers {@code UNet2DConditionModel}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_condition.py),
 * restricted to what Stable Diffusion 1.x/2.x use. Components are the camelCase of the JSON keys;
 * defaults are those of {@code @register_to_config}. Int-or-list arguments are normalised to one
 * entry per down block. Keys selecting features we do not build (class/addition embeddings, other
 * time embeddings, dual cross-attention, ...) must keep their defaults: {@link #fromJson} says so
 * rather than build a model that silently computes something else.
 *
 * @param attentionHeadDim     despite its name, the number of attention heads per down block; see
 *                             {@link #attentionHeads(int)}
 * @param upcastAttention      float32 attention scores in fp16/bf16 (SD 2.1); the fused attention
 *                             always accumulates in float32, so it changes nothing here
 * @param resnetOutScaleFactor read but unused, as in diffusers: the four SD block types do not take it
 * @param dropout              training only; identity at inference
 * @param sampleSize           the latent size the model was trained at (64 for SD 1.5); informative
 * @param onlyCrossAttention   per down block (the up blocks use it reversed, the mid block never):
 *                             attn1 attends to the text instead of the image (the x4 upscaler)
 * @param numClassEmbeds       an {@code Embedding(num_class_embeds, time_embed_dim)} whose row for the
 *                             class label is added to the time embedding (the x4 upscaler's noise
 *                             level); null for none
 */
public record UNet2DConditionConfig(
        Integer sampleSize,
        int inChannels,
        int outChannels,
        boolean centerInputSample,
        boolean flipSinToCos,
        int freqShift,
        List<String> downBlockTypes,
        String midBlockType,
        List<String> upBlockTypes,
        List<Integer> blockOutChannels,
        List<Integer> layersPerBlock,
        int downsamplePadding,
        double midBlockScaleFactor,
        double dropout,
        String actFn,
        int normNumGroups,
        double normEps,
        List<Integer> crossAttentionDim,
        List<Integer> transformerLayersPerBlock,
        List<Integer> attentionHeadDim,
        boolean useLinearProjection,
        boolean upcastAttention,
        double resnetOutScaleFactor,
        int convInKernel,
        int convOutKernel,
        Integer timeEmbeddingDim,
        List<Boolean> onlyCrossAttention,
        Integer numClassEmbeds) {

    public static final String CROSS_ATTN_DOWN = "CrossAttnDownBlock2D";
    public static final String DOWN = "DownBlock2D";
    public static final String CROSS_ATTN_UP = "CrossAttnUpBlock2D";
    public static final String UP = "UpBlock2D";
    public static final String MID_CROSS_ATTN = "UNetMidBlock2DCrossAttn";

    /** The keys that must keep diffusers' default value, with that value (null = Python None). */
    private static final Map<String, Object> UNSUPPORTED_UNLESS_DEFAULT = unsupported();

    public UNet2DConditionConfig {
        int n = downBlockTypes.size();
        require(n > 0, "down_block_types", "must name at least one block");
        require(upBlockTypes.size() == n, "up_block_types",
                "must have as many entries as down_block_types (" + downBlockTypes + " vs " + upBlockTypes + ")");
        require(blockOutChannels.size() == n, "block_out_channels",
                "must have one entry per down block (" + n + "), found " + blockOutChannels);
        for (String t : downBlockTypes) {
            require(Set.of(CROSS_ATTN_DOWN, DOWN).contains(t), "down_block_types",
                    "contains unknown block type \"" + t + "\"; supported: " + CROSS_ATTN_DOWN + ", " + DOWN);
        }
        for (String t : upBlockTypes) {
            require(Set.of(CROSS_ATTN_UP, UP).contains(t), "up_block_types",
                    "contains unknown block type \"" + t + "\"; supported: " + CROSS_ATTN_UP + ", " + UP);
        }
        require(MID_CROSS_ATTN.equals(midBlockType), "mid_block_type",
                "is \"" + midBlockType + "\"; supported: " + MID_CROSS_ATTN);
        require("silu".equals(actFn), "act_fn", "is \"" + actFn + "\"; supported: silu");
        for (var list : List.of(layersPerBlock, crossAttentionDim, transformerLayersPerBlock, attentionHeadDim)) {
            require(list.size() == n, "layers_per_block/cross_attention_dim/transformer_layers_per_block/attention_head_dim",
                    "must have one entry per down block (" + n + ")");
        }
        require(inChannels > 0 && outChannels > 0, "in_channels/out_channels", "must be positive");
        require(convInKernel % 2 == 1 && convOutKernel % 2 == 1, "conv_in_kernel/conv_out_kernel", "must be odd");
        for (int i = 0; i < n; i++) {
            int c = blockOutChannels.get(i);
            require(c > 0 && c % normNumGroups == 0, "block_out_channels",
                    "entry " + c + " must be a positive multiple of norm_num_groups " + normNumGroups);
            require(attentionHeadDim.get(i) > 0 && c % attentionHeadDim.get(i) == 0, "attention_head_dim",
                    "entry " + i + " (" + attentionHeadDim.get(i) + " heads) must divide block_out_channels " + c);
            require(layersPerBlock.get(i) > 0 && transformerLayersPerBlock.get(i) > 0,
                    "layers_per_block/transformer_layers_per_block", "must be positive");
        }
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        blockOutChannels = List.copyOf(blockOutChannels);
        layersPerBlock = List.copyOf(layersPerBlock);
        crossAttentionDim = List.copyOf(crossAttentionDim);
        transformerLayersPerBlock = List.copyOf(transformerLayersPerBlock);
        attentionHeadDim = List.copyOf(attentionHeadDim);
        onlyCrossAttention = onlyCrossAttention == null ? java.util.Collections.nCopies(n, false) : List.copyOf(onlyCrossAttention);
        require(onlyCrossAttention.size() == n, "only_cross_attention", "must have one entry per down block (" + n + ")");
        require(numClassEmbeds == null || numClassEmbeds > 0, "num_class_embeds", "must be positive or null");
    }

    /** The SD 1.x/2.x configuration without class embeddings or only-cross-attention blocks. */
    public UNet2DConditionConfig(Integer sampleSize, int inChannels, int outChannels, boolean centerInputSample,
                                 boolean flipSinToCos, int freqShift, List<String> downBlockTypes, String midBlockType,
                                 List<String> upBlockTypes, List<Integer> blockOutChannels, List<Integer> layersPerBlock,
                                 int downsamplePadding, double midBlockScaleFactor, double dropout, String actFn,
                                 int normNumGroups, double normEps, List<Integer> crossAttentionDim,
                                 List<Integer> transformerLayersPerBlock, List<Integer> attentionHeadDim,
                                 boolean useLinearProjection, boolean upcastAttention, double resnetOutScaleFactor,
                                 int convInKernel, int convOutKernel, Integer timeEmbeddingDim) {
        this(sampleSize, inChannels, outChannels, centerInputSample, flipSinToCos, freqShift, downBlockTypes, midBlockType,
                upBlockTypes, blockOutChannels, layersPerBlock, downsamplePadding, midBlockScaleFactor, dropout, actFn,
                normNumGroups, normEps, crossAttentionDim, transformerLayersPerBlock, attentionHeadDim, useLinearProjection,
                upcastAttention, resnetOutScaleFactor, convInKernel, convOutKernel, timeEmbeddingDim, null, null);
    }

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new JDiffusionException("UNet2DConditionModel config: '" + key + "' " + problem);
    }

    /**
     * Attention heads of down block {@code block}; the mid block uses the last block's count and up
     * block i uses down block (n - 1 - i)'s.
     *
     * <p>Pitfall: diffusers' {@code attention_head_dim} is the number of heads, not their width.
     * Early diffusers releases misnamed the argument and thousands of published configs carry it,
     * so {@code UNet2DConditionModel.__init__} does {@code num_attention_heads =
     * num_attention_heads or attention_head_dim} (and refuses an explicit num_attention_heads).
     * SD 1.5: 8 heads everywhere, widths 40/80/160; SD 2.x: [5, 10, 20, 20] heads, width 64.
     * This is the only place that reads the field.
     */
    public int attentionHeads(int block) {
        return attentionHeadDim.get(block);
    }

    /** Width of the time embedding: time_embedding_dim, or 4 x block_out_channels[0]. */
    public int timeEmbedDim() {
        return timeEmbeddingDim != null ? timeEmbeddingDim : 4 * blockOutChannels.getFirst();
    }

    public int numBlocks() {
        return downBlockTypes.size();
    }

    /** runwayml/stable-diffusion-v1-5 {@code unet/config.json}: 859,520,964 parameters. */
    public static UNet2DConditionConfig stableDiffusion15() {
        return stableDiffusion(4, 768, List.of(8, 8, 8, 8), false, false, 64);
    }

    /** stabilityai/stable-diffusion-2-1 {@code unet/config.json} (768 px, v-prediction). */
    public static UNet2DConditionConfig stableDiffusion21() {
        return stableDiffusion(4, 1024, List.of(5, 10, 20, 20), true, true, 96);
    }

    /** stabilityai/stable-diffusion-2-inpainting {@code unet/config.json}: 9 input channels. */
    public static UNet2DConditionConfig stableDiffusion2Inpainting() {
        return stableDiffusion(9, 1024, List.of(5, 10, 20, 20), true, false, 64);
    }

    /** stabilityai/stable-diffusion-2-depth {@code unet/config.json}: 5 input channels (latents + depth). */
    public static UNet2DConditionConfig stableDiffusion2Depth() {
        return stableDiffusion(5, 1024, List.of(5, 10, 20, 20), true, false, 64);
    }

    /** The SD 1.x/2.x UNet: four blocks 320/640/1280/1280, two layers each, 32 groups. */
    private static UNet2DConditionConfig stableDiffusion(int inChannels, int crossAttentionDim, List<Integer> heads,
                                                         boolean linearProjection, boolean upcast, int sampleSize) {
        return new UNet2DConditionConfig(sampleSize, inChannels, 4, false, true, 0,
                List.of(CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, DOWN), MID_CROSS_ATTN,
                List.of(UP, CROSS_ATTN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP), List.of(320, 640, 1280, 1280),
                List.of(2, 2, 2, 2), 1, 1.0, 0.0, "silu", 32, 1e-5, List.of(crossAttentionDim, crossAttentionDim,
                crossAttentionDim, crossAttentionDim), List.of(1, 1, 1, 1), heads, linearProjection, upcast, 1.0, 3, 3, null);
    }

    /** Reads and validates {@code file}; every error names the file and the key. */
    public static UNet2DConditionConfig fromJson(Path file) {
        ConfigJson c = ConfigJson.read(file, "UNet2DConditionModel");
        c.requireDefaults(UNSUPPORTED_UNLESS_DEFAULT, "UNet2DConditionModel");
        if (c.getOptionalInt("num_attention_heads") != null) {
            throw c.error("num_attention_heads", "must be null: diffusers refuses it too (issue 2011); "
                    + "the head count of SD UNets is given by 'attention_head_dim'");
        }
        List<String> down = c.getStringList("down_block_types",
                List.of(CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, DOWN));
        int n = down.size();
        return c.build(() -> new UNet2DConditionConfig(
                c.getOptionalInt("sample_size"),
                c.getInt("in_channels", 4),
                c.getInt("out_channels", 4),
                c.getBoolean("center_input_sample", false),
                c.getBoolean("flip_sin_to_cos", true),
                c.getInt("freq_shift", 0),
                    down,
                c.getString("mid_block_type", MID_CROSS_ATTN),
                c.getStringList("up_block_types", List.of(UP, CROSS_ATTN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP)),
                c.getIntList("block_out_channels", List.of(320, 640, 1280, 1280)),
                c.getIntPerBlock("layers_per_block", 2, n),
                c.getInt("downsample_padding", 1),
                c.getDouble("mid_block_scale_factor", 1.0),
                c.getDouble("dropout", 0.0),
                c.getString("act_fn", "silu"),
                c.getInt("norm_num_groups", 32),
                c.getDouble("norm_eps", 1e-5),
                c.getIntPerBlock("cross_attention_dim", 1280, n),
                c.getIntPerBlock("transformer_layers_per_block", 1, n),
                c.getIntPerBlock("attention_head_dim", 8, n),
                c.getBoolean("use_linear_projection", false),
                c.getBoolean("upcast_attention", false),
                c.getDouble("resnet_out_scale_factor", 1.0),
                c.getInt("conv_in_kernel", 3),
                c.getInt("conv_out_kernel", 3),
                c.getOptionalInt("time_embedding_dim"),
                c.getBooleanPerBlock("only_cross_attention", false, n),
                c.getOptionalInt("num_class_embeds")));
    }

    private static Map<String, Object> unsupported() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("addition_embed_type", null);
        m.put("addition_time_embed_dim", null);
        m.put("class_embed_type", null);
        m.put("projection_class_embeddings_input_dim", null);
        m.put("class_embeddings_concat", false);
        m.put("encoder_hid_dim", null);
        m.put("encoder_hid_dim_type", null);
        m.put("time_embedding_type", "positional");
        m.put("time_embedding_act_fn", null);
        m.put("timestep_post_act", null);
        m.put("time_cond_proj_dim", null);
        m.put("resnet_time_scale_shift", "default");
        m.put("resnet_skip_time_act", false);
        m.put("dual_cross_attention", false);
        m.put("attention_type", "default");
        m.put("cross_attention_norm", null);
        m.put("reverse_transformer_layers_per_block", null);
        return m;
    }
}
