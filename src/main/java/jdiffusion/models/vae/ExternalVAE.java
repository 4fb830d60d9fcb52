package jdiffusion.models.vae;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import jdiffusion.JDiffusionException;
import jdiffusion.io.TorchCheckpoint;
import jdiffusion.models.ModelLoading;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.LdmKeyMap;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.TensorFiles;
import jdiffusion.weights.TensorTransform;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A VAE other than the model's own, as users swap them in (A1111's "SD VAE" setting, diffusers'
 * {@code StableDiffusionPipeline.from_pretrained(..., vae=AutoencoderKL.from_pretrained(...))}):
 * <ul>
 *   <li>a diffusers VAE folder ({@code config.json} and weights), e.g. stabilityai/sd-vae-ft-mse;</li>
 *   <li>a single file ({@code .safetensors}, or {@code .ckpt}/{@code .pt} through the restricted
 *       unpickler) with diffusers keys, LDM keys under {@code first_stage_model.} (a checkpoint's
 *       VAE) or bare LDM keys ({@code encoder.down.0.block.0...}, vae-ft-mse-840000-ema-pruned).
 *       A single file has no config: like A1111, it is read as the model's own VAE architecture.</li>
 * </ul>
 * A VAE of another latent space (another latent channel count or scaling factor, e.g. SDXL's
 * VAE on an SD 1.5 model) is refused: it would decode the UNet's latents into noise or washed-out colours.
 */
public final class ExternalVAE {
    /** Training-only entries of LDM VAE checkpoints: the discriminator/perceptual loss and EMA copies. */
    private static final List<String> TRAINING_PREFIXES = List.of("loss.", "model_ema.");

    private ExternalVAE() {}

    /**
     * Loads the VAE at {@code path} for a model whose own VAE has {@code modelConfig}. Build outside
     * any PointerScope.
     */
    public static AutoencoderKL load(Path path, AutoencoderKLConfig modelConfig, String variant, ScalarType dtype,
                                     Device device) {
        if (Files.isDirectory(path)) {
            Path config = path.resolve("config.json");
            if (!Files.isRegularFile(config) && Files.isDirectory(path.resolve("vae"))) {
                throw new JDiffusionException("--vae " + path + " is a model folder; pass its VAE: " + path.resolve("vae"));
            }
            check(AutoencoderKLConfig.fromJson(config), modelConfig, path);
            return AutoencoderKL.load(path, variant, dtype, device);
        }
        if (!Files.isRegularFile(path)) throw new JDiffusionException("--vae " + path + " does not exist");
        try (StateDict raw = open(path); StateDict weights = asDiffusers(raw, path)) {
            long[] convIn = weights.contains("decoder.conv_in.weight") ? weights.shape("decoder.conv_in.weight") : null;
            if (convIn != null && convIn.length == 4 && convIn[1] != modelConfig.latentChannels()) {
                throw new JDiffusionException("--vae " + path + " decodes " + convIn[1] + "-channel latents, but this model's"
                        + " latents have " + modelConfig.latentChannels() + " channels: the VAE belongs to another model family");
            }
            AutoencoderKL vae = new AutoencoderKL(modelConfig);
            ModelLoading.loadWeights(vae, weights, dtype, device, "VAE (read with this model's VAE config.json)");
            return vae;
        }
    }

    /** The same latent space: channel count and scaling factor (and the image channels). */
    static void check(AutoencoderKLConfig vae, AutoencoderKLConfig model, Path path) {
        if (vae.latentChannels() != model.latentChannels()) {
            throw new JDiffusionException("--vae " + path + " has " + vae.latentChannels() + " latent channels, but this"
                    + " model's latents have " + model.latentChannels() + ": the VAE belongs to another model family");
        }
        if (Math.abs(vae.scalingFactor() - model.scalingFactor()) > 1e-9 * Math.abs(model.scalingFactor())) {
            throw new JDiffusionException("--vae " + path + " has scaling_factor " + vae.scalingFactor() + ", but this model's"
                    + " latents are scaled by " + model.scalingFactor() + " (e.g. SDXL's VAE on an SD 1.x model):"
                    + " its images would come out wrong; use a VAE made for this model");
        }
        if (vae.inChannels() != model.inChannels() || vae.outChannels() != model.outChannels()) {
            throw new JDiffusionException("--vae " + path + " works on " + vae.outChannels() + "-channel images, this model on "
                    + model.outChannels());
        }
    }

    private static StateDict open(Path path) {
        if (TensorFiles.format(path) == TensorFiles.Format.SAFETENSORS) return StateDict.open(path);
        TorchCheckpoint ckpt = TorchCheckpoint.open(path);
        return StateDict.of(ckpt.tensors(), ckpt, path.toString());
    }

    /** The file's tensors under diffusers names, whichever of the three layouts it uses. */
    private static StateDict asDiffusers(StateDict raw, Path path) {
        List<String> keys = new ArrayList<>(raw.keys());
        LdmKeyMap.Plan plan;
        if (LdmKeyMap.hasPrefix(keys, LdmKeyMap.VAE_PREFIX)) {
            // a whole checkpoint, or its VAE part saved alone: only first_stage_model.* is read
            plan = LdmKeyMap.vae(LdmKeyMap.VAELayout.fromLdm(strip(keys, LdmKeyMap.VAE_PREFIX)))
                    .toDiffusers(keys, LdmKeyMap.VAE_PREFIX);
        } else if (LdmKeyMap.hasPrefix(keys, "encoder.down.") || LdmKeyMap.hasPrefix(keys, "decoder.up.")) {
            keys.removeIf(k -> TRAINING_PREFIXES.stream().anyMatch(k::startsWith));
            plan = LdmKeyMap.vae(LdmKeyMap.VAELayout.fromLdm(keys)).toDiffusers(keys, "");
        } else if (LdmKeyMap.hasPrefix(keys, "encoder.down_blocks.") || LdmKeyMap.hasPrefix(keys, "decoder.up_blocks.")) {
            UnaryOperator<String> legacy = KeyMap.diffusersLegacyAttention();
            Map<String, TensorTransform> same = new LinkedHashMap<>();
            for (String k : keys) same.put(legacy.apply(k), new TensorTransform.Same(k));
            plan = new LdmKeyMap.Plan(same, List.of(), List.of());
        } else {
            throw new JDiffusionException("--vae " + path + " holds no VAE weights (no encoder.down_blocks.*, encoder.down.* or "
                    + LdmKeyMap.VAE_PREFIX + "* tensors); first keys: " + keys.subList(0, Math.min(5, keys.size())));
        }
        if (!plan.unmapped().isEmpty()) {
            throw new JDiffusionException("--vae " + path + ": " + plan.unmapped().size() + " tensors are not part of an SD VAE: "
                    + plan.unmapped().subList(0, Math.min(5, plan.unmapped().size())));
        }
        return raw.derive(plan.targets(), raw.description() + " (VAE)");
    }

    private static List<String> strip(List<String> keys, String prefix) {
        return keys.stream().filter(k -> k.startsWith(prefix)).map(k -> k.substring(prefix.length())).toList();
    }
}
