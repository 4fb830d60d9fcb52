package jdiffusion.tools.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.function.Consumer;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.nn.RandomInit;
import jdiffusion.tensor.Tensors;
import jdiffusion.training.PipelineWriter;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * {@code create-random}: a diffusers folder with a published architecture's real shapes and
 * seeded random weights (PyTorch's default init scales, {@link RandomInit}), for benchmarks and
 * memory checks without a checkpoint. It loads with {@code StableDiffusionPipeline.load}.
 *
 * <p>Written by {@link PipelineWriter} (diffusers' save_pretrained). Components are built, written and closed one at a time (SD 1.5's UNet is 3.4 GB in float32),
 * and the folder is assembled next to its destination and moved into place when complete.
 */
public final class RandomPipelineFolder {
    /** Parameter counts per component (what diffusers' {@code model.num_parameters()} reports). */
    public record Counts(long unet, long vae, long textEncoder) {}

    private RandomPipelineFolder() {}

    /**
     * Writes {@code model} to {@code dir} (which must not exist, or be empty) with weights stored
     * as {@code storage} (Float or Half). {@code tokenizer}: a CLIP tokenizer folder to copy, or
     * null for the byte-level vocabulary. {@code log} receives one line per component.
     */
    public static Counts create(RandomModel model, Path dir, ScalarType storage, long seed, Path tokenizer,
                                Consumer<String> log) {
        if (storage.value != ScalarType.Float.value && storage.value != ScalarType.Half.value
                && storage.value != ScalarType.BFloat16.value) {
            throw new JDiffusionException("--dtype: weights are stored as fp32, fp16 or bf16");
        }
        Path target = dir.toAbsolutePath().normalize();
        requireEmpty(target);
        Path staging = staging(target);
        try {
            // Seeds differ per component so that no two share a weight pattern.
            UNet2DConditionModel unet = UNet2DConditionModel.createRandom(model.unet(), seed, ScalarType.Float, Tensors.CPU);
            long unetCount;
            try {
                unetCount = parameterCount(unet);
                log.accept(String.format("unet:         %,15d parameters", unetCount));
                PipelineWriter.writeUNet(staging.resolve("unet"), unet, storage);
            } finally {
                unet.close();
            }
            AutoencoderKL vae = AutoencoderKL.createRandom(model.vae(), seed + 1, ScalarType.Float, Tensors.CPU);
            long vaeCount;
            try {
                vaeCount = parameterCount(vae);
                log.accept(String.format("vae:          %,15d parameters", vaeCount));
                PipelineWriter.writeVae(staging.resolve("vae"), vae, storage);
            } finally {
                vae.close();
            }
            CLIPTextModel textEncoder = randomTextEncoder(model, seed + 2);
            long textCount;
            try {
                textCount = parameterCount(textEncoder);
                log.accept(String.format("text_encoder: %,15d parameters", textCount));
                PipelineWriter.writeTextEncoder(staging.resolve("text_encoder"), textEncoder, storage);
            } finally {
                textEncoder.close();
            }
            if (tokenizer != null) {
                ByteLevelTokenizer.copy(tokenizer, staging.resolve("tokenizer"));
                log.accept("tokenizer:    copied from " + tokenizer);
            } else {
                ByteLevelTokenizer.write(staging.resolve("tokenizer"));
                log.accept("tokenizer:    byte-level CLIP vocabulary (no merges: one token per byte; "
                        + "pass --tokenizer DIR to copy a real one)");
            }
            if (model.depthEstimator() != null) {
                long dpt = RandomDepthEstimator.write(model.depthEstimator(), staging, storage, seed + 3);
                log.accept(String.format("depth_estimator: %,12d parameters (DPT-Hybrid)", dpt));
            }
            ObjectNode scheduler = schedulerConfig(model);
            PipelineWriter.writeScheduler(staging, scheduler);
            PipelineWriter.writeModelIndex(staging, scheduler.get("_class_name").asText());
            if (model.depthEstimator() != null) depthModelIndex(staging.resolve("model_index.json"));
            moveIntoPlace(staging, target);
            staging = null;
            return new Counts(unetCount, vaeCount, textCount);
        } finally {
            if (staging != null) deleteRecursively(staging);
        }
    }

    /** CLIPTextModel with the same seeded init as the UNet and VAE (libtorch's own draws are unseeded). */
    static CLIPTextModel randomTextEncoder(RandomModel model, long seed) {
        CLIPTextModel te = new CLIPTextModel(model.textEncoder());
        RandomInit.initialize(te, seed);
        return te;
    }

    /** Sum of the parameters' sizes (buffers excluded, as in diffusers' num_parameters()). */
    public static long parameterCount(Module module) {
        try (PointerScope scope = new PointerScope()) {
            TensorVector params = module.parameters(true);
            long n = 0;
            for (long i = 0; i < params.size(); i++) {
                Tensor t = params.get(i);
                n += t.numel();
            }
            return n;
        }
    }

    /** A depth model's model_index.json: diffusers' depth2img class and its two extra components. */
    private static void depthModelIndex(Path index) {
        try {
            ObjectMapper json = new ObjectMapper();
            ObjectNode node = (ObjectNode) json.readTree(index.toFile());
            node.put("_class_name", "StableDiffusionDepth2ImgPipeline");
            node.putArray("depth_estimator").add("transformers").add("DPTForDepthEstimation");
            node.putArray("feature_extractor").add("transformers").add("DPTImageProcessor");
            for (String absent : new String[] {"safety_checker", "requires_safety_checker", "image_encoder"}) node.remove(absent);
            Files.writeString(index, node.toPrettyString());
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + index + ": " + e.getMessage(), e);
        }
    }

    private static ObjectNode schedulerConfig(RandomModel model) {
        try {
            return (ObjectNode) new ObjectMapper().readTree(model.schedulerJson());
        } catch (IOException e) {
            throw new IllegalStateException("built-in scheduler config of " + model + " is not JSON", e);
        }
    }

    private static void requireEmpty(Path target) {
        if (!Files.exists(target)) return;
        if (!Files.isDirectory(target)) throw new JDiffusionException(target + " exists and is not a folder");
        try (Stream<Path> entries = Files.list(target)) {
            if (entries.findAny().isPresent()) {
                throw new JDiffusionException(target + " is not empty; choose a new folder (create-random never overwrites)");
            }
        } catch (IOException e) {
            throw new JDiffusionException("cannot read " + target + ": " + e.getMessage(), e);
        }
    }

    private static Path staging(Path target) {
        try {
            Files.createDirectories(target.getParent());
            return jdiffusion.io.AtomicFiles.createBeside(target, true); // umask permissions, not 0700
        } catch (IOException e) {
            throw new JDiffusionException("cannot create a folder next to " + target + ": " + e.getMessage(), e);
        }
    }

    private static void moveIntoPlace(Path staging, Path target) {
        try {
            if (Files.exists(target)) Files.delete(target); // empty, checked above
            Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new JDiffusionException("cannot move the finished folder to " + target + ": " + e.getMessage(), e);
        }
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort: the original failure matters more than a leftover temporary folder
        }
    }
}
