package jdiffusion.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.weights.WeightLoader;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The part of diffusers' {@code save_pretrained} that {@code create-random} needs: component
 * configs (the config records serialised under their snake_case keys, which are diffusers' own),
 * weights, scheduler_config.json and model_index.json. Kept to the method names of the
 * {@code training.PipelineWriter} being written on the tiny branch, so that it can replace this
 * class once it reaches main.
 */
final class MinimalPipelineWriter {
    private static final String DIFFUSERS_VERSION = "0.31.0";
    private static final ObjectMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    private MinimalPipelineWriter() {}

    static void writeUNet(Path dir, UNet2DConditionModel unet, ScalarType dtype) {
        writeConfig(dir, "UNet2DConditionModel", JSON.valueToTree(unet.config()));
        writeWeights(dir.resolve("diffusion_pytorch_model.safetensors"), unet, dtype);
    }

    static void writeVae(Path dir, AutoencoderKL vae, ScalarType dtype) {
        writeConfig(dir, "AutoencoderKL", JSON.valueToTree(vae.config()));
        writeWeights(dir.resolve("diffusion_pytorch_model.safetensors"), vae, dtype);
    }

    /** transformers' layout: config.json with architectures/model_type, and model.safetensors. */
    static void writeTextEncoder(Path dir, CLIPTextModel textEncoder, ScalarType dtype) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("CLIPTextModel");
        c.setAll((ObjectNode) JSON.valueToTree(textEncoder.config()));
        c.put("model_type", "clip_text_model");
        c.put("torch_dtype", dtype.value == ScalarType.Half.value ? "float16" : "float32");
        write(dir.resolve("config.json"), c);
        writeWeights(dir.resolve("model.safetensors"), textEncoder, dtype);
    }

    static void writeScheduler(Path folder, String schedulerJson) {
        writeText(folder.resolve("scheduler").resolve("scheduler_config.json"), schedulerJson);
    }

    /** model_index.json of a StableDiffusionPipeline without safety checker. */
    static void writeModelIndex(Path folder, String schedulerClass) {
        ObjectNode index = JSON.createObjectNode();
        index.put("_class_name", "StableDiffusionPipeline");
        index.put("_diffusers_version", DIFFUSERS_VERSION);
        index.set("feature_extractor", JSON.createArrayNode().addNull().addNull());
        index.put("requires_safety_checker", false);
        index.set("safety_checker", JSON.createArrayNode().addNull().addNull());
        index.set("scheduler", pair("diffusers", schedulerClass));
        index.set("text_encoder", pair("transformers", "CLIPTextModel"));
        index.set("tokenizer", pair("transformers", "CLIPTokenizer"));
        index.set("unet", pair("diffusers", "UNet2DConditionModel"));
        index.set("vae", pair("diffusers", "AutoencoderKL"));
        write(folder.resolve("model_index.json"), index);
    }

    /** Parameters and buffers under their registered (checkpoint) names, floating ones in {@code dtype}. */
    static void writeWeights(Path file, Module module, ScalarType dtype) {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (var e : WeightLoader.namedTensors(module).entrySet()) {
                Tensor t = e.getValue().detach();
                tensors.put(e.getKey(), t.is_floating_point() ? t.to(dtype).contiguous() : t.contiguous());
            }
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        }
    }

    static ObjectMapper json() {
        return JSON;
    }

    private static void writeConfig(Path dir, String className, ObjectNode fields) {
        ObjectNode c = JSON.createObjectNode();
        c.put("_class_name", className);
        c.put("_diffusers_version", DIFFUSERS_VERSION);
        c.setAll(fields);
        write(dir.resolve("config.json"), c);
    }

    static void write(Path file, JsonNode json) {
        try {
            writeText(file, JSON.writeValueAsString(json) + "\n");
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    static void writeText(Path file, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, tmp -> Files.write(tmp, bytes));
    }

    private static ArrayNode pair(String library, String className) {
        return JSON.createArrayNode().add(library).add(className);
    }
}
