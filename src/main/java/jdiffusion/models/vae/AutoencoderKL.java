package jdiffusion.models.vae;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.ChannelsLast;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.RandomInit;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.KeyMap;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/autoencoders/autoencoder_kl.py {@code AutoencoderKL}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/autoencoder_kl.py):
 * the SD VAE. {@link #encode} maps images in [-1, 1] to a Gaussian over latents,
 * {@link #decode} maps latents back. Neither applies {@link #scalingFactor}: pipelines multiply
 * encoded samples by it and divide latents by it before decoding.
 *
 * <p>Build or {@link #load} outside any PointerScope; wrap calls in one (and a NoGradGuard).
 * {@link #decode}/{@link #encode} work on the whole image, so memory grows with its size;
 * {@link #decodeTiled}/{@link #encodeTiled} (diffusers' {@code enable_tiling}) bound it to one tile.
 */
public final class AutoencoderKL extends JavaModule implements ModelLoading.ChannelsLastInFloat32 {
    private final AutoencoderKLConfig config;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv2dImpl quantConv;     // [2*latent, 2*latent, 1, 1]; null without use_quant_conv
    private final Conv2dImpl postQuantConv; // [latent, latent, 1, 1]; null without use_post_quant_conv

    /** A randomly initialised model of {@code config} (float32, CPU); {@link #load} fills in weights. */
    public AutoencoderKL(AutoencoderKLConfig config) {
        ModelLoading.requireNoPointerScope("AutoencoderKL");
        this.config = config;
        long latent = config.latentChannels();
        encoder = register_module("encoder", new Encoder(config));
        decoder = register_module("decoder", new Decoder(config));
        quantConv = config.useQuantConv() ? register_module("quant_conv", Layers.conv2d(2 * latent, 2 * latent, 1, 1, 0)) : null;
        postQuantConv = config.usePostQuantConv() ? register_module("post_quant_conv", Layers.conv2d(latent, latent, 1, 1, 0)) : null;
    }

    /**
     * Reads {@code vaeFolder/config.json} and the weights next to it, converted once to
     * {@code dtype} on {@code device}. Old checkpoints' mid-block attention names
     * (query/key/value/proj_attn) are renamed as diffusers does on load.
     */
    public static AutoencoderKL load(Path vaeFolder, ScalarType dtype, Device device) {
        return load(vaeFolder, null, dtype, device);
    }

    /** As {@link #load(Path, ScalarType, Device)}, reading {@code diffusion_pytorch_model.<variant>.safetensors}. */
    public static AutoencoderKL load(Path vaeFolder, String variant, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "AutoencoderKL");
        List<Path> files = ModelFolder.weightFiles(vaeFolder, variant);
        AutoencoderKL model = new AutoencoderKL(AutoencoderKLConfig.fromJson(vaeFolder.resolve("config.json")));
        ModelLoading.loadWeights(model, files, KeyMap.diffusersLegacyAttention(), dtype, device, "AutoencoderKL");
        return model;
    }

    /** A model of {@code config} with seeded random weights ({@link RandomInit}), for tests and benchmarks. */
    public static AutoencoderKL createRandom(AutoencoderKLConfig config, long seed, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "AutoencoderKL");
        AutoencoderKL model = new AutoencoderKL(config);
        RandomInit.initialize(model, seed);
        model.to(device, dtype, false);
        ModelLoading.prepareForInference(model, device, dtype);
        return model;
    }

    public AutoencoderKLConfig config() {
        return config;
    }

    /** The latent scale of SD pipelines (0.18215 for SD 1.x/2.x): latents = sample x scalingFactor. */
    public double scalingFactor() {
        return config.scalingFactor();
    }

    /**
     * image [B, in_channels, H, W] in [-1, 1] (moved to the model's device and dtype) -> the
     * posterior over latents [B, latent, H/f, W/f], f = {@link AutoencoderKLConfig#downscaleFactor}.
     */
    public DiagonalGaussianDistribution encode(Tensor image) {
        checkImage(image);
        return new DiagonalGaussianDistribution(moments(image));
    }

    private void checkImage(Tensor image) {
        if (image.dim() != 4 || image.size(1) != config.inChannels()) {
            throw new JDiffusionException("VAE encode expects [B, " + config.inChannels() + ", H, W], got "
                    + Tensors.shapeString(image));
        }
    }

    /**
     * latents [B, latent, h, w] (not scaled: divide by {@link #scalingFactor} first when they come
     * from a pipeline) -> image [B, out_channels, h*f, w*f], roughly in [-1, 1], in the model's dtype.
     */
    public Tensor decode(Tensor latents) {
        Tensor weight = anyWeight();
        if (latents.dim() != 4 || latents.size(1) != config.latentChannels()) {
            throw new JDiffusionException("VAE decode expects [B, " + config.latentChannels() + ", h, w], got "
                    + Tensors.shapeString(latents));
        }
        Tensor z = ChannelsLast.follow(latents.to(weight.device(), weight.scalar_type()), weight);
        if (postQuantConv != null) z = postQuantConv.forward(z);
        return decoder.forward(z).contiguous(); // the caller gets the plain layout whatever ran inside
    }

    /**
     * diffusers' tiling parameters: tiles of {@code tileSampleSize} pixels (diffusers'
     * {@code tile_sample_min_size}, the config's sample_size: 512 for SD 1.x/2.x) and
     * {@code tileSampleSize / f} latents, overlapping by {@code overlapFactor} (0.25).
     */
    public record Tiling(int tileSampleSize, double overlapFactor) {
        public Tiling {
            if (tileSampleSize < 2) throw new JDiffusionException("the VAE tile size must be at least 2 pixels, not " + tileSampleSize);
            if (!(overlapFactor >= 0 && overlapFactor < 1)) {
                throw new JDiffusionException("the VAE tile overlap must be in [0, 1), not " + overlapFactor);
            }
        }
    }

    /** diffusers' defaults for this VAE: tiles of sample_size pixels, overlap 0.25. */
    public Tiling defaultTiling() {
        return new Tiling(config.sampleSize(), 0.25);
    }

    /** diffusers' {@code tile_latent_min_size}: {@code int(sample_size / 2^(blocks - 1))}. */
    private long tileLatentSize(Tiling tiling) {
        long latent = tiling.tileSampleSize() / config.downscaleFactor();
        if (latent < 1) {
            throw new JDiffusionException("a VAE tile of " + tiling.tileSampleSize() + " pixels is smaller than one latent ("
                    + config.downscaleFactor() + " pixels)");
        }
        return latent;
    }

    /**
     * As {@link #decode}, in overlapping tiles when the latents are larger than one tile
     * (diffusers' {@code tiled_decode}): tiles of {@code tileSampleSize / f} latents every 75% of a
     * tile, each decoded alone, the overlaps blended linearly. Memory is that of one tile; the
     * image differs slightly from the untiled one (each tile sees only its own latents).
     */
    public Tensor decodeTiled(Tensor latents, Tiling tiling) {
        long tileLatent = tileLatentSize(tiling);
        if (latents.dim() != 4 || latents.size(2) <= tileLatent && latents.size(3) <= tileLatent) return decode(latents);
        long stride = (long) (tileLatent * (1 - tiling.overlapFactor()));          // overlap_size
        long blend = (long) (tiling.tileSampleSize() * tiling.overlapFactor());     // blend_extent
        long keep = tiling.tileSampleSize() - blend;                                // row_limit
        checkTiling(stride, keep, config.downscaleFactor(), tiling);
        return Tiles.tiled(latents, this::decode, tileLatent, stride, blend, keep);
    }

    /**
     * As {@link #encode}, in overlapping tiles when the image is larger than one tile (diffusers'
     * {@code tiled_encode}): the moments (mean and log-variance) are blended, then split.
     */
    public DiagonalGaussianDistribution encodeTiled(Tensor image, Tiling tiling) {
        long tileLatent = tileLatentSize(tiling);
        long tile = tiling.tileSampleSize();
        checkImage(image);
        if (image.size(2) <= tile && image.size(3) <= tile) return encode(image);
        long stride = (long) (tile * (1 - tiling.overlapFactor()));                 // overlap_size
        long blend = (long) (tileLatent * tiling.overlapFactor());                  // blend_extent
        long keep = tileLatent - blend;                                             // row_limit
        checkTiling(keep, stride, config.downscaleFactor(), tiling);
        return new DiagonalGaussianDistribution(Tiles.tiled(image, this::moments, tile, stride, blend, keep));
    }

    /** The kept part of each tile must be exactly one stride, or the output would have the wrong size. */
    private static void checkTiling(long latentSpan, long pixelSpan, int f, Tiling tiling) {
        if (latentSpan < 1 || latentSpan * f != pixelSpan) {
            throw new JDiffusionException("VAE tiles of " + tiling.tileSampleSize() + " pixels with overlap "
                    + tiling.overlapFactor() + " do not tile evenly (" + latentSpan + " latents vs " + pixelSpan
                    + " pixels per step, factor " + f + "); use a multiple of " + 4 * f + " pixels and overlap 0.25");
        }
    }

    /** encoder + quant_conv: the [B, 2*latent, h, w] moments of an image (no checks). */
    private Tensor moments(Tensor image) {
        Tensor weight = anyWeight();
        Tensor moments = encoder.forward(ChannelsLast.follow(image.to(weight.device(), weight.scalar_type()), weight));
        return (quantConv != null ? quantConv.forward(moments) : moments).contiguous(); // plain layout out
    }

    /** A parameter that tells the model's device and dtype. */
    private Tensor anyWeight() {
        return encoder.convInWeight();
    }
}
