package jdiffusion.training;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DiffusersFolderWriter;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.tensor.ModuleTensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers' {@code StableDiffusionPipeline.save_pretrained}: writes a text-to-image model as the
 * folder {@code StableDiffusionPipeline.load} (and diffusers itself) reads: model_index.json,
 * unet/ and vae/ (config.json + diffusion_pytorch_model.safetensors), text_encoder/ (config.json
 * + model.safetensors), tokenizer/ and scheduler/scheduler_config.json. Config keys are the
 * snake_case of the config records' components, which are diffusers'/transformers' own names.
 */
public final class PipelineWriter {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .build();

    private PipelineWriter() {}

    /** Writes the UNet, VAE and text encoder folders with weights in {@code dtype} (Float or Half). */
    public static void writeModels(Path folder, UNet2DConditionModel unet, AutoencoderKL vae, CLIPTextModel textEncoder,
                                   ScalarType dtype) {
        writeUNet(folder.resolve("unet"), unet, dtype);
        writeVae(folder.resolve("vae"), vae, dtype);
        writeTextEncoder(folder.resolve("text_encoder"), textEncoder, dtype);
    }

    public static void writeUNet(Path dir, UNet2DConditionModel unet, ScalarType dtype) {
        ObjectNode c = JSON.valueToTree(unet.config());
        // diffusers writes one int where every block has the same value
        for (String key : new String[] {"layers_per_block", "cross_attention_dim", "transformer_layers_per_block",
                "only_cross_attention"}) {
            collapse(c, key);
        }
        // save_pretrained writes every constructor argument; these select features the record
        // leaves out, at diffusers' defaults (the loader insists on them)
        c.putNull("addition_embed_type");
        c.putNull("addition_time_embed_dim");
        c.putNull("class_embed_type");
        c.put("class_embeddings_concat", false);
        c.putNull("projection_class_embeddings_input_dim");
        c.putNull("encoder_hid_dim");
        c.putNull("encoder_hid_dim_type");
        c.put("time_embedding_type", "positional");
        c.putNull("time_embedding_act_fn");
        c.putNull("timestep_post_act");
        c.putNull("time_cond_proj_dim");
        c.put("resnet_time_scale_shift", "default");
        c.put("resnet_skip_time_act", false);
        c.put("dual_cross_attention", false);
        c.put("attention_type", "default");
        c.putNull("cross_attention_norm");
        c.putNull("reverse_transformer_layers_per_block");
        c.putNull("num_attention_heads");
        writeConfig(dir, "UNet2DConditionModel", c);
        writeWeights(dir.resolve("diffusion_pytorch_model.safetensors"), unet, dtype);
    }

    public static void writeVae(Path dir, AutoencoderKL vae, ScalarType dtype) {
        writeConfig(dir, "AutoencoderKL", JSON.valueToTree(vae.config()));
        writeWeights(dir.resolve("diffusion_pytorch_model.safetensors"), vae, dtype);
    }

    public static void writeTextEncoder(Path dir, CLIPTextModel textEncoder, ScalarType dtype) {
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("CLIPTextModel");
        c.setAll((ObjectNode) JSON.valueToTree(textEncoder.config()));
        c.put("model_type", "clip_text_model");
        c.put("torch_dtype", dtype.value == ScalarType.Half.value ? "float16" : "float32");
        c.put("transformers_version", DiffusersFolderWriter.TRANSFORMERS_VERSION);
        DiffusersFolderWriter.writeJson(dir.resolve("config.json"), c);
        writeWeights(dir.resolve("model.safetensors"), textEncoder, dtype);
    }

    /** scheduler/scheduler_config.json from {@code config} (which holds {@code _class_name}). */
    public static void writeScheduler(Path folder, ObjectNode config) {
        DiffusersFolderWriter.writeJson(folder.resolve("scheduler").resolve("scheduler_config.json"), config);
    }

    /** model_index.json of a StableDiffusionPipeline without safety checker. */
    public static void writeModelIndex(Path folder, String schedulerClass) {
        ObjectNode index = DiffusersFolderWriter.modelIndex("StableDiffusionPipeline");
        index.set("feature_extractor", DiffusersFolderWriter.none());
        index.set("image_encoder", DiffusersFolderWriter.none());
        index.put("requires_safety_checker", false);
        index.set("safety_checker", DiffusersFolderWriter.none());
        index.set("scheduler", DiffusersFolderWriter.component("diffusers", schedulerClass));
        index.set("text_encoder", DiffusersFolderWriter.component("transformers", "CLIPTextModel"));
        index.set("tokenizer", DiffusersFolderWriter.component("transformers", "CLIPTokenizer"));
        index.set("unet", DiffusersFolderWriter.component("diffusers", "UNet2DConditionModel"));
        index.set("vae", DiffusersFolderWriter.component("diffusers", "AutoencoderKL"));
        DiffusersFolderWriter.writeJson(folder.resolve("model_index.json"), index);
    }

    /** The module's parameters and buffers under their registered (checkpoint) names, in {@code dtype}. */
    public static void writeWeights(Path file, Module module, ScalarType dtype) {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (var e : ModuleTensors.namedTensors(module).entrySet()) {
                Tensor t = e.getValue().detach();
                tensors.put(e.getKey(), t.is_floating_point() ? t.to(dtype).contiguous() : t.contiguous());
            }
            createDirectories(file.getParent());
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        }
    }

    private static void writeConfig(Path dir, String className, ObjectNode fields) {
        ObjectNode c = DiffusersFolderWriter.modelIndex(className);   // a config starts the same way
        c.setAll(fields);
        DiffusersFolderWriter.writeJson(dir.resolve("config.json"), c);
    }

    private static void collapse(ObjectNode c, String key) {
        JsonNode list = c.get(key);
        if (list == null || !list.isArray() || list.isEmpty()) return;
        Iterator<JsonNode> it = list.elements();
        JsonNode first = it.next();
        while (it.hasNext()) if (!it.next().equals(first)) return;
        c.set(key, first);
    }

    private static void createDirectories(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new JDiffusionException("cannot create " + dir + ": " + e.getMessage(), e);
        }
    }
}
