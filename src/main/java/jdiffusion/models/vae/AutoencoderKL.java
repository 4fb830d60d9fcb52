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
 * No tiling or slicing: memory grows with the image size.
 */
public final class AutoencoderKL extends JavaModule {
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
        Tensor weight = anyWeight();
        if (image.dim() != 4 || image.size(1) != config.inChannels()) {
            throw new JDiffusionException("VAE encode expects [B, " + config.inChannels() + ", H, W], got "
                    + Tensors.shapeString(image));
        }
        Tensor moments = encoder.forward(ChannelsLast.follow(image.to(weight.device(), weight.scalar_type()), weight));
        if (quantConv != null) moments = quantConv.forward(moments);
        return new DiagonalGaussianDistribution(moments.contiguous());
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

    /** A parameter that tells the model's device and dtype. */
    private Tensor anyWeight() {
        return encoder.convInWeight();
    }
}
