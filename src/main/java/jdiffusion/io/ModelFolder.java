package jdiffusion.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;

/**
 * A diffusers pipeline folder as {@code save_pretrained} writes it: {@code model_index.json}
 * naming the components, one sub-folder per component with its {@code config.json} and weights
 * ({@code *.safetensors}, sharded through {@code *.safetensors.index.json}, or a variant such as
 * {@code diffusion_pytorch_model.fp16.safetensors}).
 *
 * <pre>{@code
 * ModelFolder model = ModelFolder.resolve("stable-diffusion-v1-5/stable-diffusion-v1-5");
 * List<Path> unetWeights = ModelFolder.weightFiles(model.component("unet"), null);
 * }</pre>
 */
public final class ModelFolder {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The weight file stems diffusers and transformers use. */
    private static final List<String> WEIGHT_STEMS = List.of("diffusion_pytorch_model", "model");

    /** One entry of model_index.json: {@code "unet": ["diffusers", "UNet2DConditionModel"]}. */
    public record Component(String name, String library, String className) {}

    private final Path root;
    private final JsonNode index;
    private final Map<String, Component> components;

    private ModelFolder(Path root, JsonNode index, Map<String, Component> components) {
        this.root = root;
        this.index = index;
        this.components = components;
    }

    /** A local folder, or a Hub repo id looked up in the local Hugging Face cache. */
    public static ModelFolder resolve(String model) {
        return open(locate(model));
    }

    /** The folder {@code model} names: a local path, or a Hub repo id from the local cache. */
    public static Path locate(String model) {
        Path p = Path.of(model);
        if (Files.exists(p)) return p;
        requireNotBrokenLink(p);
        if (HubCache.looksLikeRepoId(model)) return HubCache.fromEnvironment(System.getenv()).resolve(model);
        throw new JDiffusionException("model folder " + model + " does not exist; pass a diffusers folder "
                + "(with model_index.json) or a Hub repo id such as stable-diffusion-v1-5/stable-diffusion-v1-5");
    }

    public static ModelFolder open(Path root) {
        if (!Files.isDirectory(root)) {
            throw new JDiffusionException(root + " is not a folder; pass a diffusers pipeline folder (with model_index.json)");
        }
        Path indexPath = root.resolve("model_index.json");
        if (!Files.isRegularFile(indexPath)) {
            throw new JDiffusionException(root + " has no model_index.json, so it is not a diffusers pipeline folder");
        }
        JsonNode index = readJson(indexPath);
        if (!index.isObject()) throw new JDiffusionException(indexPath + " is not a JSON object");
        Map<String, Component> components = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = index.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (e.getKey().startsWith("_") || !v.isArray() || v.size() != 2) continue;
            if (v.get(0).isNull() || v.get(1).isNull()) continue; // e.g. "safety_checker": [null, null]
            components.put(e.getKey(), new Component(e.getKey(), v.get(0).asText(), v.get(1).asText()));
        }
        return new ModelFolder(root, index, components);
    }

    public Path root() {
        return root;
    }

    /** model_index.json as read. */
    public JsonNode index() {
        return index;
    }

    /**
     * The image side the model was trained at, as diffusers' pipelines default it:
     * {@code unet.sample_size * vae_scale_factor}, with {@code vae_scale_factor = 2^(len(vae.block_out_channels) - 1)}
     * (512 for SD 1.5, 768 for SD 2.1). Read from the two config files only.
     */
    public int defaultImageSize() {
        JsonNode unet = readJson(component("unet").resolve("config.json"));
        JsonNode vae = readJson(component("vae").resolve("config.json"));
        int levels = vae.path("block_out_channels").size();
        if (levels < 1) throw new JDiffusionException(root + "/vae/config.json has no block_out_channels");
        return unet.path("sample_size").asInt(64) * (1 << (levels - 1));
    }

    /** The pipeline class, e.g. StableDiffusionPipeline. */
    public String pipelineClass() {
        return index.path("_class_name").asText("");
    }

    public Map<String, Component> components() {
        return components;
    }

    public boolean has(String name) {
        return components.containsKey(name) && Files.isDirectory(root.resolve(name));
    }

    /** The component's folder; a clear error when model_index.json lists it but the folder is missing. */
    public Path component(String name) {
        if (!components.containsKey(name)) {
            throw new JDiffusionException(root + ": model_index.json has no '" + name + "' component");
        }
        Path dir = root.resolve(name);
        if (!Files.isDirectory(dir)) {
            throw new JDiffusionException(root + ": the '" + name + "' folder is missing (model_index.json lists it); "
                    + "the download is incomplete");
        }
        return dir;
    }

    /**
     * The safetensors files that hold a component's weights: one file, or the shards named by an
     * index. {@code variant} ("fp16", ...) selects {@code diffusion_pytorch_model.fp16.safetensors}
     * as diffusers' {@code variant=} does; null means the plain files.
     */
    public static List<Path> weightFiles(Path componentDir, String variant) {
        if (!Files.isDirectory(componentDir)) {
            throw new JDiffusionException(componentDir + " is not a folder");
        }
        for (String stem : WEIGHT_STEMS) {
            Path single = componentDir.resolve(addVariant(stem + ".safetensors", variant));
            requireNotBrokenLink(single);
            if (Files.isRegularFile(single)) return List.of(single);
            Path index = componentDir.resolve(addVariant(stem + ".safetensors.index.json", variant));
            requireNotBrokenLink(index);
            if (Files.isRegularFile(index)) return shards(index);
        }
        List<String> present = listFiles(componentDir);
        List<String> pickles = present.stream()
                .filter(f -> f.endsWith(".bin") || f.endsWith(".ckpt") || f.endsWith(".pt") || f.endsWith(".pth"))
                .toList();
        List<String> safetensors = present.stream().filter(f -> f.endsWith(".safetensors")).toList();
        if (variant != null && !safetensors.isEmpty()) {
            throw new JDiffusionException(componentDir + " has no '" + variant + "' variant (found "
                    + String.join(", ", safetensors) + "); drop --variant or pick one of those");
        }
        if (variant == null && !safetensors.isEmpty()) {
            throw new JDiffusionException(componentDir + " has only variant weights (" + String.join(", ", safetensors)
                    + "); pass the variant, e.g. --variant fp16");
        }
        if (!pickles.isEmpty()) {
            throw new JDiffusionException(componentDir + " holds pickle weights (" + String.join(", ", pickles)
                    + "), which jdiffusion does not load because a pickle can run code. Convert the model folder to "
                    + "safetensors once with `jdiffusion convert --to diffusers MODEL_DIR NEW_DIR`, which reads the "
                    + "pickles without running them and refuses any that would run code");
        }
        throw new JDiffusionException(componentDir + " has no weights (expected diffusion_pytorch_model.safetensors, "
                + "model.safetensors or a *.safetensors.index.json)");
    }

    /** diffusers' {@code _add_variant}: "a.safetensors" + "fp16" -> "a.fp16.safetensors". */
    static String addVariant(String fileName, String variant) {
        if (variant == null || variant.isEmpty()) return fileName;
        int dot = fileName.lastIndexOf('.');
        return fileName.substring(0, dot) + "." + variant + fileName.substring(dot);
    }

    private static List<Path> shards(Path index) {
        JsonNode map = readJson(index).path("weight_map");
        if (!map.isObject() || map.isEmpty()) {
            throw new JDiffusionException(index + " has no weight_map; the shard index is corrupt");
        }
        Set<String> files = new LinkedHashSet<>();
        map.elements().forEachRemaining(v -> files.add(v.asText()));
        List<Path> out = new ArrayList<>();
        for (String f : files) {
            Path shard = index.resolveSibling(f).normalize();
            if (!shard.startsWith(index.getParent().normalize())) {
                throw new JDiffusionException(index + " points outside its folder (" + f + ")");
            }
            requireNotBrokenLink(shard);
            if (!Files.isRegularFile(shard)) {
                throw new JDiffusionException(index + " names the shard " + f + ", which is missing; the download is incomplete");
            }
            out.add(shard);
        }
        return out;
    }

    private static List<String> listFiles(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new JDiffusionException("cannot list " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Reads a JSON file with a clear error for a missing or malformed one. */
    public static JsonNode readJson(Path path) {
        requireNotBrokenLink(path);
        if (!Files.isRegularFile(path)) throw new JDiffusionException(path + " is missing");
        try {
            return JSON.readTree(path.toFile());
        } catch (IOException e) {
            throw new JDiffusionException(path + " is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    /**
     * The Hugging Face cache keeps each file as a symbolic link into {@code blobs/}; an interrupted
     * download or a pruned cache leaves the link without its blob. Say so, rather than "missing".
     */
    static void requireNotBrokenLink(Path path) {
        if (!Files.isSymbolicLink(path) || Files.exists(path)) return;
        String target;
        try {
            target = Files.readSymbolicLink(path).toString();
        } catch (IOException | UnsupportedOperationException e) {
            target = "?";
        }
        throw new JDiffusionException(path + " is a broken symbolic link (its target " + target + " is missing): the download"
                + " is incomplete or the cache was cleaned; fetch the model again (hf download ORG/NAME)");
    }
}
