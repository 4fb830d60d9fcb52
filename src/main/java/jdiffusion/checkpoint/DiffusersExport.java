package jdiffusion.checkpoint;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DType;
import jdiffusion.io.DiffusersFolderWriter;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * A {@link SingleFileCheckpoint} written out as a diffusers folder, as diffusers'
 * {@code StableDiffusionPipeline.from_single_file(...).save_pretrained(...)} would: model_index.json,
 * unet/, vae/, text_encoder/ (config.json + safetensors), scheduler/scheduler_config.json and
 * tokenizer/. A file holding only a UNet becomes a UNet folder (config.json + weights).
 *
 * <p>The tokenizer is not in the checkpoint. Its vocabulary (the CLIP BPE vocab.json and
 * merges.txt, the same for SD 1.x and 2.x) is copied from a folder the caller gives; without one
 * the folder gets the tokenizer configs only and the result says which files to add. Nothing is
 * downloaded.
 *
 * <p>The folder is built under a temporary name beside the destination and renamed into place,
 * so the destination is complete or absent.
 */
public final class DiffusersExport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** What transformers' CLIPTokenizer needs besides its config. */
    static final List<String> VOCABULARY_FILES = List.of("vocab.json", "merges.txt");

    private DiffusersExport() {}

    /** What was written; {@code warnings} are for the user (a missing tokenizer vocabulary). */
    public record Result(Path folder, List<String> written, List<String> warnings) {}

    /**
     * Writes {@code ckpt} to the new folder {@code out}. {@code tokenizer} is a folder holding
     * vocab.json and merges.txt (e.g. any SD pipeline's tokenizer/), or null. {@code dtype}
     * converts floating-point weights (null keeps them).
     */
    public static Result write(SingleFileCheckpoint ckpt, Path out, Path tokenizer, DType dtype) {
        if (tokenizer != null) checkTokenizer(tokenizer);
        List<String> written = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        Path folder = OutputFolder.write(out, dir -> {
            if (!ckpt.hasVae() && !ckpt.hasTextEncoder()) {
                component(dir, "", ckpt.unetConfig(), ckpt.unet(), "diffusion_pytorch_model.safetensors", dtype, written);
            } else {
                pipeline(ckpt, dir, tokenizer, dtype, written, warnings);
            }
        });
        return new Result(folder, written, warnings);
    }

    private static void pipeline(SingleFileCheckpoint ckpt, Path dir, Path tokenizer, DType dtype,
                                 List<String> written, List<String> warnings) throws IOException {
        ObjectNode index = DiffusersFolderWriter.modelIndex(switch (ckpt.variant()) {
            case TEXT_TO_IMAGE -> "StableDiffusionPipeline";
            case INPAINTING -> "StableDiffusionInpaintPipeline";
            case DEPTH -> "StableDiffusionDepth2ImgPipeline";
        });
        if (ckpt.variant() == SingleFileCheckpoint.Variant.DEPTH) {
            // diffusers' depth pipeline runs a DPT estimator; the checkpoint's MiDaS weights do not convert to it.
            index.set("depth_estimator", DiffusersFolderWriter.none());
            index.set("feature_extractor", DiffusersFolderWriter.none());
        } else {
            index.set("feature_extractor", DiffusersFolderWriter.none());
            index.set("image_encoder", DiffusersFolderWriter.none());
            index.put("requires_safety_checker", false);
            index.set("safety_checker", DiffusersFolderWriter.none());
        }
        ObjectNode scheduler = ckpt.schedulerConfig();
        index.set("scheduler", DiffusersFolderWriter.component("diffusers", scheduler.path("_class_name").asText()));
        if (ckpt.hasTextEncoder()) {
            index.set("text_encoder", DiffusersFolderWriter.component("transformers", "CLIPTextModel"));
            index.set("tokenizer", DiffusersFolderWriter.component("transformers", "CLIPTokenizer"));
        }
        index.set("unet", DiffusersFolderWriter.component("diffusers", "UNet2DConditionModel"));
        if (ckpt.hasVae()) index.set("vae", DiffusersFolderWriter.component("diffusers", "AutoencoderKL"));

        component(dir, "unet", ckpt.unetConfig(), ckpt.unet(), "diffusion_pytorch_model.safetensors", dtype, written);
        if (ckpt.hasVae()) component(dir, "vae", ckpt.vaeConfig(), ckpt.vae(), "diffusion_pytorch_model.safetensors", dtype, written);
        if (ckpt.hasTextEncoder()) {
            ObjectNode config = ckpt.textEncoderConfig();
            if (dtype != null) config.put("torch_dtype", switch (dtype) {
                case F16 -> "float16";
                case BF16 -> "bfloat16";
                default -> "float32";
            });
            component(dir, "text_encoder", config, ckpt.textEncoder(), "model.safetensors", dtype, written);
            tokenizer(dir.resolve("tokenizer"), tokenizer, ckpt.openClip(), written, warnings);
        }
        writeJson(dir.resolve("scheduler").resolve("scheduler_config.json"), scheduler, written, dir);
        writeJson(dir.resolve("model_index.json"), index, written, dir);
    }

    private static void component(Path root, String name, ObjectNode config, StateDict weights, String fileName,
                                  DType dtype, List<String> written) throws IOException {
        Path dir = name.isEmpty() ? root : root.resolve(name);
        Files.createDirectories(dir);
        writeJson(dir.resolve("config.json"), config, written, root);
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String key : weights.keys()) tensors.put(key, SingleFileExport.convert(weights.view(key), dtype));
            SafetensorsWriter.write(dir.resolve(fileName), tensors, Map.of("format", "pt"));
        }
        written.add(root.relativize(dir.resolve(fileName)).toString());
    }

    private static void checkTokenizer(Path tokenizer) {
        List<String> missing = VOCABULARY_FILES.stream().filter(f -> !Files.isRegularFile(tokenizer.resolve(f))).toList();
        if (!missing.isEmpty()) {
            throw new JDiffusionException("--tokenizer " + tokenizer + " lacks " + String.join(" and ", missing)
                    + "; point it at a CLIP tokenizer folder such as an SD pipeline's tokenizer/");
        }
    }

    /**
     * The tokenizer folder: the vocabulary copied from {@code source}, and its configs (copied too
     * when present, else written: SD 1.x pads with {@code <|endoftext|>}, SD 2.x with {@code !}).
     */
    private static void tokenizer(Path dir, Path source, boolean sd2, List<String> written, List<String> warnings)
            throws IOException {
        Files.createDirectories(dir);
        Path root = dir.getParent();
        if (source != null) {
            for (String f : List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")) {
                if (Files.isRegularFile(source.resolve(f))) {
                    Files.copy(source.resolve(f), dir.resolve(f));
                    written.add(root.relativize(dir.resolve(f)).toString());
                }
            }
        } else {
            warnings.add("tokenizer/ has its configs but not the CLIP vocabulary: copy " + String.join(" and ", VOCABULARY_FILES)
                    + " (the CLIP BPE vocabulary, 49408 tokens; e.g. from the tokenizer/ folder of any SD 1.x or 2.x "
                    + "diffusers model) into it, or convert again with --tokenizer DIR. jdiffusion downloads nothing.");
        }
        String pad = sd2 ? "!" : "<|endoftext|>";
        if (!Files.exists(dir.resolve("tokenizer_config.json"))) {
            ObjectNode c = JSON.createObjectNode();
            c.put("add_prefix_space", false);
            c.put("bos_token", "<|startoftext|>");
            c.put("clean_up_tokenization_spaces", false);
            c.put("do_lower_case", true);
            c.put("eos_token", "<|endoftext|>");
            c.put("errors", "replace");
            c.put("model_max_length", 77);
            c.put("pad_token", pad);
            c.put("tokenizer_class", "CLIPTokenizer");
            c.put("unk_token", "<|endoftext|>");
            writeJson(dir.resolve("tokenizer_config.json"), c, written, root);
        }
        if (!Files.exists(dir.resolve("special_tokens_map.json"))) {
            ObjectNode m = JSON.createObjectNode();
            m.put("bos_token", "<|startoftext|>");
            m.put("eos_token", "<|endoftext|>");
            m.put("pad_token", pad);
            m.put("unk_token", "<|endoftext|>");
            writeJson(dir.resolve("special_tokens_map.json"), m, written, root);
        }
    }

    private static void writeJson(Path file, ObjectNode json, List<String> written, Path root) {
        DiffusersFolderWriter.writeJson(file, json);
        written.add(root.relativize(file).toString());
    }
}
