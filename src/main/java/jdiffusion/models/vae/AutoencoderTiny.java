package jdiffusion.models.vae;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.ChannelsLast;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.RandomInit;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/autoencoders/autoencoder_tiny.py {@code AutoencoderTiny}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/autoencoder_tiny.py):
 * TAESD, madebyollin's distilled VAE (2.4 M parameters against the SD VAE's 84 M), which decodes SD
 * latents at a fraction of the cost with a small loss of detail. Weight names are diffusers'
 * ({@code encoder.layers.N...}, {@code decoder.layers.N...}), as in the {@code madebyollin/taesd}
 * folder ({@code config.json} + {@code diffusion_pytorch_model.safetensors}).
 *
 * <p>Unlike {@link AutoencoderKL}, the encoder gives latents directly (no Gaussian) and
 * {@link #scalingFactor} is 1.0: TAESD works on SD's scaled latents. Example:
 * <pre>{@code
 * AutoencoderTiny taesd = AutoencoderTiny.load(Path.of("taesd"), ScalarType.Float, Tensors.CPU);
 * try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
 *     Tensor image = taesd.decode(latents.div(new Scalar(taesd.scalingFactor())));   // [-1, 1]
 * }
 * }</pre>
 * Build or {@link #load} outside any PointerScope; wrap calls in one.
 */
public final class AutoencoderTiny extends JavaModule implements ModelLoading.ChannelsLastInFloat32 {
    private final AutoencoderTinyConfig config;
    private final EncoderTiny encoder;
    private final DecoderTiny decoder;

    /** A randomly initialised model of {@code config} (float32, CPU); {@link #load} fills in weights. */
    public AutoencoderTiny(AutoencoderTinyConfig config) {
        ModelLoading.requireNoPointerScope("AutoencoderTiny");
        this.config = config;
        encoder = register_module("encoder", new EncoderTiny(config));
        decoder = register_module("decoder", new DecoderTiny(config));
    }

    /** True when {@code path} is a folder whose config.json describes an AutoencoderTiny (a TAESD folder). */
    public static boolean isTinyFolder(Path path) {
        return path != null && Files.isDirectory(path) && AutoencoderTinyConfig.describes(path.resolve("config.json"));
    }

    /** Reads {@code folder/config.json} and the weights next to it, converted once to {@code dtype} on {@code device}. */
    public static AutoencoderTiny load(Path folder, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "AutoencoderTiny");
        if (!Files.isDirectory(folder)) throw new JDiffusionException("TAESD folder " + folder + " does not exist");
        AutoencoderTinyConfig config = AutoencoderTinyConfig.fromJson(folder.resolve("config.json"));
        List<Path> files = ModelFolder.weightFiles(folder, null);
        AutoencoderTiny model = new AutoencoderTiny(config);
        ModelLoading.loadWeights(model, files, UnaryOperator.identity(), dtype, device, "AutoencoderTiny (" + folder + ")");
        return model;
    }

    /** A model of {@code config} with seeded random weights ({@link RandomInit}), for tests and benchmarks. */
    public static AutoencoderTiny createRandom(AutoencoderTinyConfig config, long seed, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "AutoencoderTiny");
        AutoencoderTiny model = new AutoencoderTiny(config);
        RandomInit.initialize(model, seed);
        model.to(device, dtype, false);
        ModelLoading.prepareForInference(model, device, dtype);
        return model;
    }

    public AutoencoderTinyConfig config() {
        return config;
    }

    /** 1.0 for TAESD: pipelines divide latents by it before decoding, as diffusers does. */
    public double scalingFactor() {
        return config.scalingFactor();
    }

    /**
     * latents [B, latent, h, w] -> image [B, out, h*f, w*f] roughly in [-1, 1], in the model's dtype
     * (f = {@link AutoencoderTinyConfig#upscaleFactor}, 8 for TAESD).
     */
    public Tensor decode(Tensor latents) {
        if (latents.dim() != 4 || latents.size(1) != config.latentChannels()) {
            throw new JDiffusionException("TAESD decode expects [B, " + config.latentChannels() + ", h, w], got "
                    + Tensors.shapeString(latents));
        }
        Tensor weight = anyWeight();
        Tensor z = ChannelsLast.follow(latents.to(weight.device(), weight.scalar_type()), weight);
        return decoder.forward(z).contiguous(); // the caller gets the plain layout whatever ran inside
    }

    /** image [B, in, H, W] in [-1, 1] -> latents [B, latent, H/f, W/f] (diffusers' {@code encode(x).latents}). */
    public Tensor encode(Tensor image) {
        if (image.dim() != 4 || image.size(1) != config.inChannels()) {
            throw new JDiffusionException("TAESD encode expects [B, " + config.inChannels() + ", H, W], got "
                    + Tensors.shapeString(image));
        }
        Tensor weight = anyWeight();
        return encoder.forward(ChannelsLast.follow(image.to(weight.device(), weight.scalar_type()), weight)).contiguous();
    }

    /** A parameter that tells the model's device and dtype. */
    private Tensor anyWeight() {
        TensorVector p = decoder.parameters(true);
        return p.get(0);
    }
}
