package jdiffusion.models.unet2d;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jdiffusion.JDiffusionException;
import jdiffusion.models.ConfigJson;

/**
 * The {@code config.json} of a diffusers {@code UNet2DModel}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d.py), the
 * pixel-space UNet of {@code google/ddpm-*} and of the diffusion course. Components are the camelCase
 * of the JSON keys, defaults those of {@code @register_to_config}; {@code sample_size} (int or pair)
 * is normalised to [height, width]. Keys selecting features not built here (fourier time embedding,
 * scale-shift resnets, skip blocks) must keep their defaults: {@link #fromJson} says so.
 *
 * <p>Example: {@code UNet2DConfig.fromJson(Path.of("ddpm-cifar10-32/unet/config.json"))}.
 *
 * @param attentionHeadDim the size of ONE head (heads = channels / attention_head_dim), unlike
 *                         {@code UNet2DConditionModel}'s legacy key of the same name (golden Pitfall 24);
 *                         null = one head as wide as the block
 * @param classEmbedType   null (with num_class_embeds: an {@code nn.Embedding} added to the time
 *                         embedding), "timestep" (labels go through the sinusoid and a TimestepEmbedding)
 *                         or "identity" (labels are already embeddings of the time embedding's width)
 * @param numTrainTimesteps only for time_embedding_type "learned" (an embedding table per timestep)
 * @param dropout          training only; kept for the file, not applied (the course and google/ddpm use 0)
 */
public record UNet2DConfig(
        List<Integer> sampleSize,
        int inChannels,
        int outChannels,
        boolean centerInputSample,
        String timeEmbeddingType,
        int freqShift,
        boolean flipSinToCos,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        List<Integer> blockOutChannels,
        int layersPerBlock,
        double midBlockScaleFactor,
        int downsamplePadding,
        double dropout,
        String actFn,
        Integer attentionHeadDim,
        int normNumGroups,
        Integer attnNormNumGroups,
        double normEps,
        boolean addAttention,
        String classEmbedType,
        Integer numClassEmbeds,
        Integer numTrainTimesteps) {

    public static final String DOWN = "DownBlock2D";
    public static final String ATTN_DOWN = "AttnDownBlock2D";
    public static final String UP = "UpBlock2D";
    public static final String ATTN_UP = "AttnUpBlock2D";

    private static final Map<String, Object> UNSUPPORTED_UNLESS_DEFAULT = Map.of(
            "resnet_time_scale_shift", "default", "downsample_type", "conv", "upsample_type", "conv");

    public UNet2DConfig {
        int n = downBlockTypes.size();
        require(n > 0, "down_block_types", "must name at least one block");
        require(upBlockTypes.size() == n, "up_block_types",
                "must have as many entries as down_block_types (" + downBlockTypes + " vs " + upBlockTypes + ")");
        require(blockOutChannels.size() == n, "block_out_channels",
                "must have one entry per down block (" + n + "), found " + blockOutChannels);
        for (String t : downBlockTypes) {
            require(Set.of(DOWN, ATTN_DOWN).contains(t), "down_block_types",
                    "contains unsupported block type \"" + t + "\"; supported: " + DOWN + ", " + ATTN_DOWN);
        }
        for (String t : upBlockTypes) {
            require(Set.of(UP, ATTN_UP).contains(t), "up_block_types",
                    "contains unsupported block type \"" + t + "\"; supported: " + UP + ", " + ATTN_UP);
        }
        require(sampleSize.size() == 2 && sampleSize.get(0) > 0 && sampleSize.get(1) > 0, "sample_size",
                "must be a positive size or [height, width], found " + sampleSize);
        require(inChannels > 0 && outChannels > 0, "in_channels/out_channels", "must be positive");
        require(layersPerBlock > 0, "layers_per_block", "must be positive, found " + layersPerBlock);
        require("silu".equals(actFn), "act_fn", "is \"" + actFn + "\"; supported: silu");
        require(Set.of("positional", "learned").contains(timeEmbeddingType), "time_embedding_type",
                "is \"" + timeEmbeddingType + "\"; supported: positional, learned");
        require(!"learned".equals(timeEmbeddingType) || (numTrainTimesteps != null && numTrainTimesteps > 0),
                "num_train_timesteps", "must be set for time_embedding_type \"learned\"");
        require(normNumGroups > 0, "norm_num_groups", "must be positive");
        int attnGroups = attnNormNumGroups == null ? normNumGroups : attnNormNumGroups;
        for (int c : blockOutChannels) {
            require(c > 0 && c % normNumGroups == 0 && c % attnGroups == 0, "block_out_channels",
                    "entry " + c + " must be a positive multiple of norm_num_groups " + normNumGroups
                            + " (and attn_norm_num_groups)");
            require(attentionHeadDim == null || (attentionHeadDim > 0 && c % attentionHeadDim == 0),
                    "attention_head_dim", "(" + attentionHeadDim + ", the size of one head) must divide block_out_channels " + c);
        }
        require(classEmbedType == null || Set.of("timestep", "identity").contains(classEmbedType), "class_embed_type",
                "is \"" + classEmbedType + "\"; supported: null, timestep, identity");
        require(numClassEmbeds == null || numClassEmbeds > 0, "num_class_embeds", "must be positive");
        require(!"timestep".equals(classEmbedType) || numClassEmbeds == null, "class_embed_type",
                "\"timestep\" takes no num_class_embeds");
        sampleSize = List.copyOf(sampleSize);
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        blockOutChannels = List.copyOf(blockOutChannels);
    }

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new JDiffusionException("UNet2DModel config: '" + key + "' " + problem);
    }

    public int numBlocks() {
        return downBlockTypes.size();
    }

    /** Width of the time embedding: 4 x block_out_channels[0]. */
    public int timeEmbedDim() {
        return 4 * blockOutChannels.getFirst();
    }

    /** Size of one attention head in block {@code channels} wide (attention_head_dim, or the whole block). */
    public int headDim(int channels) {
        return attentionHeadDim == null ? channels : attentionHeadDim;
    }

    /** Groups of the attention GroupNorms of the mid block (attn_norm_num_groups, or norm_num_groups). */
    public int midAttentionGroups() {
        return attnNormNumGroups == null ? normNumGroups : attnNormNumGroups;
    }

    /** Whether forward needs class labels: a class embedding exists. */
    public boolean classConditioned() {
        return numClassEmbeds != null || classEmbedType != null;
    }

    public int height() {
        return sampleSize.get(0);
    }

    public int width() {
        return sampleSize.get(1);
    }

    /** Reads and validates {@code file}; every error names the file and the key. */
    public static UNet2DConfig fromJson(Path file) {
        ConfigJson c = ConfigJson.read(file, "UNet2DModel");
        c.requireDefaults(new LinkedHashMap<>(UNSUPPORTED_UNLESS_DEFAULT), "UNet2DModel");
        List<Integer> size = c.getIntPerBlock("sample_size", 0, 2); // int -> [n, n]; a list stays
        return c.build(() -> new UNet2DConfig(
                size,
                c.getInt("in_channels", 3),
                c.getInt("out_channels", 3),
                c.getBoolean("center_input_sample", false),
                c.getString("time_embedding_type", "positional"),
                c.getInt("freq_shift", 0),
                c.getBoolean("flip_sin_to_cos", true),
                c.getStringList("down_block_types", List.of(DOWN, ATTN_DOWN, ATTN_DOWN, ATTN_DOWN)),
                c.getStringList("up_block_types", List.of(ATTN_UP, ATTN_UP, ATTN_UP, UP)),
                c.getIntList("block_out_channels", List.of(224, 448, 672, 896)),
                c.getInt("layers_per_block", 2),
                c.getDouble("mid_block_scale_factor", 1.0),
                c.getInt("downsample_padding", 1),
                c.getDouble("dropout", 0.0),
                c.getString("act_fn", "silu"),
                c.hasNull("attention_head_dim") ? null : c.getInt("attention_head_dim", 8),
                c.getInt("norm_num_groups", 32),
                c.getOptionalInt("attn_norm_num_groups"),
                c.getDouble("norm_eps", 1e-5),
                c.getBoolean("add_attention", true),
                c.getString("class_embed_type", null),
                c.getOptionalInt("num_class_embeds"),
                c.getOptionalInt("num_train_timesteps")));
    }

    /** This config as diffusers' {@code save_pretrained} writes it (every key, so diffusers loads it as is). */
    public ObjectNode toJson() {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("_class_name", "UNet2DModel");
        o.put("_diffusers_version", "0.31.0");
        o.put("act_fn", actFn);
        o.put("add_attention", addAttention);
        if (attentionHeadDim == null) o.putNull("attention_head_dim"); else o.put("attention_head_dim", attentionHeadDim);
        if (attnNormNumGroups == null) o.putNull("attn_norm_num_groups"); else o.put("attn_norm_num_groups", attnNormNumGroups);
        blockOutChannels.forEach(o.putArray("block_out_channels")::add);
        o.put("center_input_sample", centerInputSample);
        if (classEmbedType == null) o.putNull("class_embed_type"); else o.put("class_embed_type", classEmbedType);
        downBlockTypes.forEach(o.putArray("down_block_types")::add);
        o.put("downsample_padding", downsamplePadding);
        o.put("downsample_type", "conv");
        o.put("dropout", dropout);
        o.put("flip_sin_to_cos", flipSinToCos);
        o.put("freq_shift", freqShift);
        o.put("in_channels", inChannels);
        o.put("layers_per_block", layersPerBlock);
        o.put("mid_block_scale_factor", midBlockScaleFactor);
        o.put("norm_eps", normEps);
        o.put("norm_num_groups", normNumGroups);
        if (numClassEmbeds == null) o.putNull("num_class_embeds"); else o.put("num_class_embeds", numClassEmbeds);
        if (numTrainTimesteps == null) o.putNull("num_train_timesteps"); else o.put("num_train_timesteps", numTrainTimesteps);
        o.put("out_channels", outChannels);
        o.put("resnet_time_scale_shift", "default");
        if (height() == width()) o.put("sample_size", height()); else sampleSize.forEach(o.putArray("sample_size")::add);
        o.put("time_embedding_type", timeEmbeddingType);
        upBlockTypes.forEach(o.putArray("up_block_types")::add);
        o.put("upsample_type", "conv");
        return o;
    }
}
