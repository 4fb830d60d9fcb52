package jdiffusion.models.vae;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.models.ConfigJson;

/**
 * The {@code config.json} of a diffusers {@code AutoencoderTiny} (TAESD,
 * https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/autoencoder_tiny.py),
 * as {@code madebyollin/taesd} ships it. Components are the camelCase of the JSON keys; defaults
 * are those of {@code @register_to_config}.
 *
 * <p>{@code latentMagnitude}/{@code latentShift} only matter for diffusers' {@code scale_latents}
 * (latents stored as bytes), not for decoding. {@code scalingFactor} is 1.0: TAESD decodes the
 * pipeline's latents as they are (SD's latents already carry the 0.18215 of the big VAE).
 */
public record AutoencoderTinyConfig(
        int inChannels,
        int outChannels,
        List<Integer> encoderBlockOutChannels,
        List<Integer> decoderBlockOutChannels,
        String actFn,
        String upsampleFn,
        int latentChannels,
        int upsamplingScalingFactor,
        List<Integer> numEncoderBlocks,
        List<Integer> numDecoderBlocks,
        double latentMagnitude,
        double latentShift,
        boolean forceUpcast,
        double scalingFactor,
        double shiftFactor) {

    public AutoencoderTinyConfig {
        require(!encoderBlockOutChannels.isEmpty() && encoderBlockOutChannels.size() == numEncoderBlocks.size(),
                "encoder_block_out_channels/num_encoder_blocks", "need one entry each per block, found "
                        + encoderBlockOutChannels + " / " + numEncoderBlocks);
        require(!decoderBlockOutChannels.isEmpty() && decoderBlockOutChannels.size() == numDecoderBlocks.size(),
                "decoder_block_out_channels/num_decoder_blocks", "need one entry each per block, found "
                        + decoderBlockOutChannels + " / " + numDecoderBlocks);
        // EncoderTiny's stride-2 conv and DecoderTiny's conv after each upsample keep the width of
        // their own block, so diffusers only builds (and TAESD only uses) one width per side
        require(encoderBlockOutChannels.stream().distinct().count() == 1 && encoderBlockOutChannels.getFirst() > 0,
                "encoder_block_out_channels", "must repeat one positive width (diffusers' EncoderTiny), found " + encoderBlockOutChannels);
        require(decoderBlockOutChannels.stream().distinct().count() == 1 && decoderBlockOutChannels.getFirst() > 0,
                "decoder_block_out_channels", "must repeat one positive width (diffusers' DecoderTiny), found " + decoderBlockOutChannels);
        require(numEncoderBlocks.stream().allMatch(n -> n >= 0) && numDecoderBlocks.stream().allMatch(n -> n >= 0),
                "num_encoder_blocks/num_decoder_blocks", "must not be negative");
        require("relu".equals(actFn), "act_fn", "is \"" + actFn + "\"; supported: relu (TAESD's)");
        require("nearest".equals(upsampleFn), "upsample_fn", "is \"" + upsampleFn + "\"; supported: nearest");
        require(upsamplingScalingFactor >= 1 && upsamplingScalingFactor <= 8, "upsampling_scaling_factor",
                "is " + upsamplingScalingFactor + "; expected 1-8 (TAESD: 2)");
        require(inChannels > 0 && outChannels > 0 && latentChannels > 0, "in_channels/out_channels/latent_channels",
                "must be positive");
        require(Double.isFinite(scalingFactor) && scalingFactor > 0, "scaling_factor", "must be a positive number");
        encoderBlockOutChannels = List.copyOf(encoderBlockOutChannels);
        decoderBlockOutChannels = List.copyOf(decoderBlockOutChannels);
        numEncoderBlocks = List.copyOf(numEncoderBlocks);
        numDecoderBlocks = List.copyOf(numDecoderBlocks);
    }

    private static void require(boolean ok, String key, String problem) {
        if (!ok) throw new JDiffusionException("AutoencoderTiny config: '" + key + "' " + problem);
    }

    /** Pixels per latent along each side: upsampling_scaling_factor^(decoder blocks - 1), 8 for TAESD. */
    public int upscaleFactor() {
        int f = 1;
        for (int i = 1; i < numDecoderBlocks.size(); i++) f *= upsamplingScalingFactor;
        return f;
    }

    /** diffusers' defaults, which are madebyollin/taesd's config (SD 1.x/2.x latents). */
    public static AutoencoderTinyConfig taesd() {
        return new AutoencoderTinyConfig(3, 3, List.of(64, 64, 64, 64), List.of(64, 64, 64, 64), "relu", "nearest", 4, 2,
                List.of(1, 3, 3, 3), List.of(3, 3, 3, 1), 3, 0.5, false, 1.0, 0.0);
    }

    /** True when {@code file} is a config.json naming the class AutoencoderTiny (how a TAESD folder is told from a VAE folder). */
    public static boolean describes(Path file) {
        if (!java.nio.file.Files.isRegularFile(file)) return false;
        var cls = jdiffusion.io.ModelFolder.readJson(file).get("_class_name");
        return cls != null && "AutoencoderTiny".equals(cls.asText());
    }

    /** Reads and validates {@code file}; every error names the file and the key. */
    public static AutoencoderTinyConfig fromJson(Path file) {
        ConfigJson c = ConfigJson.read(file, "AutoencoderTiny");
        if (c.getBoolean("use_midblock_gn", false)) {
            throw new JDiffusionException(file + ": use_midblock_gn (a GroupNorm in the decoder's deepest blocks, used by"
                    + " newer TAESD variants) is not supported; TAESD for SD 1.x/2.x does not use it");
        }
        return c.build(() -> new AutoencoderTinyConfig(
                c.getInt("in_channels", 3),
                c.getInt("out_channels", 3),
                c.getIntList("encoder_block_out_channels", List.of(64, 64, 64, 64)),
                c.getIntList("decoder_block_out_channels", List.of(64, 64, 64, 64)),
                c.getString("act_fn", "relu"),
                c.getString("upsample_fn", "nearest"),
                c.getInt("latent_channels", 4),
                c.getInt("upsampling_scaling_factor", 2),
                c.getIntList("num_encoder_blocks", List.of(1, 3, 3, 3)),
                c.getIntList("num_decoder_blocks", List.of(3, 3, 3, 1)),
                c.getDouble("latent_magnitude", 3),
                c.getDouble("latent_shift", 0.5),
                c.getBoolean("force_upcast", false),
                c.getDouble("scaling_factor", 1.0),
                c.getDouble("shift_factor", 0.0)));
    }
}
