package jdiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;

/**
 * The writing side of {@link ModelFolder}: what every diffusers folder jdiffusion writes shares, as
 * diffusers' {@code save_pretrained} writes it. The {@code model_index.json} of a pipeline (its
 * class, the diffusers version, each component as [library, class] or [null, null]) and JSON
 * files written whole or not at all. Models write their own config.json and weights on top
 * ({@code training.PipelineWriter} from Java modules, {@code checkpoint.DiffusersExport} from a
 * single-file checkpoint).
 *
 * <pre>{@code
 * ObjectNode index = DiffusersFolderWriter.modelIndex("StableDiffusionPipeline");
 * index.set("unet", DiffusersFolderWriter.component("diffusers", "UNet2DConditionModel"));
 * index.set("safety_checker", DiffusersFolderWriter.none());
 * DiffusersFolderWriter.writeJson(folder.resolve("model_index.json"), index);
 * }</pre>
 */
public final class DiffusersFolderWriter {
    /** The {@code _diffusers_version} written: the diffusers whose behaviour jdiffusion follows (the goldens'). */
    public static final String DIFFUSERS_VERSION = "0.31.0";
    /** The {@code transformers_version} of a text encoder's config.json (the goldens' transformers). */
    public static final String TRANSFORMERS_VERSION = "4.47.0";

    private static final ObjectMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

    private DiffusersFolderWriter() {}

    /** The start of a model_index.json: {@code _class_name} and {@code _diffusers_version}. */
    public static ObjectNode modelIndex(String pipelineClass) {
        ObjectNode index = JSON.createObjectNode();
        index.put("_class_name", pipelineClass);
        index.put("_diffusers_version", DIFFUSERS_VERSION);
        return index;
    }

    /** A component entry of model_index.json: {@code [library, class]}. */
    public static ArrayNode component(String library, String className) {
        return JSON.createArrayNode().add(library).add(className);
    }

    /** An absent component ({@code safety_checker=None}): {@code [null, null]}. */
    public static ArrayNode none() {
        return JSON.createArrayNode().addNull().addNull();
    }

    /** Writes {@code json} indented with a final newline, creating the folders, through a temporary file. */
    public static void writeJson(Path file, JsonNode json) {
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            byte[] bytes = (JSON.writeValueAsString(json) + "\n").getBytes(StandardCharsets.UTF_8);
            AtomicFiles.write(file, tmp -> Files.write(tmp, bytes));
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
