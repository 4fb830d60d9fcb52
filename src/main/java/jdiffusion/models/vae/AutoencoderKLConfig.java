package jdiffusion.models.vae;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.models.ConfigJson;

/**
 * The {@code config.json} of a diffusers {@code AutoencoderKL}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/autoencoder_kl.py).
 * Components are the camelCase of the JSON keys; defaults are those of
 * {@code @register_to_config}. Pipelines use {@link #scalingFactor} (latents = sample x 0.18215
 * for SD 1.x/2.x), {@link #shiftFactor} and {@link #forceUpcast} (run the VAE in float32 when
 * the rest runs in float16).
 */
public record AutoencoderKLConfig(
        int inChannels,
        int outChannels,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        List<Integer> blockOutChannels,
        int layersPerBlock,
        String actFn,
        int latentChannels,
        int normNumGroups,
        int sampleSize,
        double scalingFactor,
        Double shiftFactor,
        List<Double> latentsMean,
        List<Double> latentsStd,
        boolean forceUpcast,
        boolean useQuantConv,
        boolean usePostQuantConv,
        boolean midBlockAddAttention) {

    public static final String DOWN_ENCODER = "DownEncoderBlock2D";
    public static final String UP_DECODER = "UpDecoderBlock2D";

    public AutoencoderKLConfig {
        int n = blockOutChannels.size();
        require(n > 0, "block_out_channels", "must name at least one width");
        require(downBlockTypes.size() == n && upBlockTypes.size() == n, "down_block_types/up_block_types",
                "must have one entry per block_out_channels entry (" + n + "), found " + downBlockTypes + " / " + upBlockTypes);
        for (String t : downBlockTypes) {
            require(DOWN_ENCODER.equals(t), "down_block_types", "contains unknown block type \"" + t + "\"; supported: " + DOWN_ENCODER);
        }
        for (String t : upBlockTypes) {
            require(UP_DECODER.equals(t), "up_block_types", "contains unknown block type \"" + t + "\"; supported: " + UP_DECODER);
        }
        require("silu".equals(actFn), "act_fn", "is \"" + actFn + "\"; supported: silu");
        for (int c : blockOutChannels) {
            require(c > 0 && c % normNumGroups == 0, "block_out_channels",
                    "entry " + c + " must be a positive multiple of norm_num_groups " + normNumGroups);
        }
        require(layersPerBlock > 0 && latentChannels > 0 && inChannels > 0 && outChannels > 0,
                "layers_per_block/latent_channels/in_channels/out_channels", "must be positive");
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        blockOutChannels = List.copyOf(blockOutChannels);
    }

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new JDiffusionException("AutoencoderKL config: '" + key + "' " + problem);
    }

    /** Pixels per latent along each side: 2^(blocks - 1), 8 for SD. */
    public int downscaleFactor() {
        return 1 << (blockOutChannels.size() - 1);
    }

    /** The SD 1.x/2.x VAE ({@code vae/config.json} of stable-diffusion-v1-5 and -2-1): 83,653,863 parameters. */
    public static AutoencoderKLConfig stableDiffusion() {
        return new AutoencoderKLConfig(3, 3, List.of(DOWN_ENCODER, DOWN_ENCODER, DOWN_ENCODER, DOWN_ENCODER),
                List.of(UP_DECODER, UP_DECODER, UP_DECODER, UP_DECODER), List.of(128, 256, 512, 512), 2, "silu", 4, 32,
                512, 0.18215, null, null, null, true, true, true, true);
    }

    /** Reads and validates {@code file}; every error names the file and the key. */
    public static AutoencoderKLConfig fromJson(Path file) {
        ConfigJson c = ConfigJson.read(file, "AutoencoderKL");
        return c.build(() -> new AutoencoderKLConfig(
                c.getInt("in_channels", 3),
                c.getInt("out_channels", 3),
                c.getStringList("down_block_types", List.of(DOWN_ENCODER)),
                c.getStringList("up_block_types", List.of(UP_DECODER)),
                c.getIntList("block_out_channels", List.of(64)),
                c.getInt("layers_per_block", 1),
                c.getString("act_fn", "silu"),
                c.getInt("latent_channels", 4),
                c.getInt("norm_num_groups", 32),
                c.getInt("sample_size", 32),
                c.getDouble("scaling_factor", 0.18215),
                c.getOptionalDouble("shift_factor"),
                c.getOptionalDoubleList("latents_mean"),
                c.getOptionalDoubleList("latents_std"),
                c.getBoolean("force_upcast", true),
                c.getBoolean("use_quant_conv", true),
                c.getBoolean("use_post_quant_conv", true),
                c.getBoolean("mid_block_add_attention", true)));
    }
}
