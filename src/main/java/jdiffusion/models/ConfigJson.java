package jdiffusion.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import jdiffusion.JDiffusionException;

/**
 * A diffusers {@code config.json} (the {@code @register_to_config} arguments of a model class)
 * read with Jackson: typed getters with the class defaults for absent keys, diffusers' int-or-list
 * arguments normalised to one entry per block, and errors that name the file and the key.
 */
public final class ConfigJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final JsonNode root;

    private ConfigJson(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    /** Reads {@code file}; {@code className} is the diffusers class the file must describe. */
    public static ConfigJson read(Path file, String className) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(file + " does not exist: a " + className
                    + " folder needs its config.json next to the weights");
        } catch (IOException e) {
            throw new JDiffusionException(file + " is not valid JSON (" + e.getMessage().lines().findFirst().orElse("")
                    + "); re-download the model's config.json", e);
        }
        if (root == null || !root.isObject()) {
            throw new JDiffusionException(file + " must hold a JSON object with the " + className + " arguments");
        }
        ConfigJson config = new ConfigJson(file, root);
        JsonNode cls = root.get("_class_name");
        if (cls != null && !cls.isNull() && !className.equals(cls.asText())) {
            throw config.error("_class_name", "is \"" + cls.asText() + "\", but a " + className
                    + " was expected; is this the config of another component?");
        }
        return config;
    }

    public Path file() {
        return file;
    }

    /**
     * Runs {@code constructor} (a config record built from this file's getters) so that the
     * record's own validation errors also name the file; getter errors already do.
     */
    public <T> T build(java.util.function.Supplier<T> constructor) {
        try {
            return constructor.get();
        } catch (JDiffusionException e) {
            if (e.getMessage().startsWith(file.toString())) throw e;
            throw new JDiffusionException(file + ": " + e.getMessage(), e);
        }
    }

    /** An error about {@code key} of this file. */
    public JDiffusionException error(String key, String problem) {
        return new JDiffusionException(file + ": '" + key + "' " + problem);
    }

    private JsonNode get(String key) {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? null : n;
    }

    /** Whether {@code key} holds a number (for keys older files wrote as a number and newer ones as an object). */
    public boolean isNumber(String key) {
        JsonNode n = get(key);
        return n != null && n.isNumber();
    }

    /** A nested object (transformers' {@code backbone_config}), or null when absent; its errors name this file. */
    public ConfigJson child(String key) {
        JsonNode n = get(key);
        if (n == null) return null;
        if (!n.isObject()) throw error(key, "must be a JSON object, found " + n);
        return new ConfigJson(file, n);
    }

    /** Whether the file spells {@code key} out as null (Python None), which some defaults tell apart from absent. */
    public boolean hasNull(String key) {
        return root.has(key) && root.get(key).isNull();
    }

    public int getInt(String key, int defaultValue) {
        JsonNode n = get(key);
        if (n == null) return defaultValue;
        if (!n.isNumber() || !n.canConvertToInt() || n.asDouble() != Math.rint(n.asDouble())) {
            throw error(key, "must be an integer, found " + n);
        }
        return n.asInt();
    }

    /** An integer that may be null in the file (diffusers' {@code Optional[int]}). */
    public Integer getOptionalInt(String key) {
        return get(key) == null ? null : getInt(key, 0);
    }

    public double getDouble(String key, double defaultValue) {
        JsonNode n = get(key);
        if (n == null) return defaultValue;
        if (!n.isNumber()) throw error(key, "must be a number, found " + n);
        return n.asDouble();
    }

    public Double getOptionalDouble(String key) {
        return get(key) == null ? null : getDouble(key, 0);
    }

    public boolean getBoolean(String key, boolean defaultValue) {
        JsonNode n = get(key);
        if (n == null) return defaultValue;
        if (!n.isBoolean()) throw error(key, "must be true or false, found " + n);
        return n.asBoolean();
    }

    /** A boolean that may be null in the file ({@code Optional[bool]}). */
    public Boolean getOptionalBoolean(String key) {
        return get(key) == null ? null : getBoolean(key, false);
    }

    public String getString(String key, String defaultValue) {
        JsonNode n = get(key);
        if (n == null) return defaultValue;
        if (!n.isTextual()) throw error(key, "must be a string, found " + n);
        return n.asText();
    }

    public List<String> getStringList(String key, List<String> defaultValue) {
        JsonNode n = get(key);
        if (n == null) return defaultValue;
        if (!n.isArray()) throw error(key, "must be a list of strings, found " + n);
        List<String> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isTextual()) throw error(key, "must be a list of strings, found " + n);
            out.add(e.asText());
        }
        return Collections.unmodifiableList(out);
    }

    public List<Integer> getIntList(String key, List<Integer> defaultValue) {
        JsonNode n = get(key);
        if (n == null) return defaultValue;
        if (!n.isArray()) throw error(key, "must be a list of integers, found " + n);
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isIntegralNumber()) throw error(key, "must be a list of integers, found " + n);
            out.add(e.asInt());
        }
        return Collections.unmodifiableList(out);
    }

    public List<Double> getOptionalDoubleList(String key) {
        JsonNode n = get(key);
        if (n == null) return null;
        if (!n.isArray()) throw error(key, "must be a list of numbers, found " + n);
        List<Double> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isNumber()) throw error(key, "must be a list of numbers, found " + n);
            out.add(e.asDouble());
        }
        return Collections.unmodifiableList(out);
    }

    /**
     * diffusers' {@code Union[int, Tuple[int]]} arguments: one integer meaning "the same for every
     * block", or one entry per block. Returns {@code blocks} entries either way.
     */
    public List<Integer> getIntPerBlock(String key, int defaultValue, int blocks) {
        JsonNode n = get(key);
        if (n == null) return Collections.nCopies(blocks, defaultValue);
        if (n.isArray()) {
            List<Integer> list = getIntList(key, null);
            if (list.size() != blocks) {
                throw error(key, "has " + list.size() + " entries " + n + ", but there are " + blocks
                        + " down blocks; give one integer or one per block");
            }
            return list;
        }
        return Collections.nCopies(blocks, getInt(key, defaultValue));
    }

    /** As {@link #getIntPerBlock} for {@code Union[bool, Tuple[bool]]} arguments (only_cross_attention). */
    public List<Boolean> getBooleanPerBlock(String key, boolean defaultValue, int blocks) {
        JsonNode n = get(key);
        if (n == null) return Collections.nCopies(blocks, defaultValue);
        if (!n.isArray()) return Collections.nCopies(blocks, getBoolean(key, defaultValue));
        List<Boolean> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isBoolean()) throw error(key, "must be true, false or a list of them, found " + n);
            out.add(e.asBoolean());
        }
        if (out.size() != blocks) {
            throw error(key, "has " + out.size() + " entries " + n + ", but there are " + blocks + " down blocks");
        }
        return Collections.unmodifiableList(out);
    }

    /**
     * Fails when a key that selects a feature jdiffusion does not implement has a value other than
     * diffusers' default (absent counts as the default). {@code defaults} maps key to default
     * (null for Python None); comparison is on the JSON value.
     */
    public void requireDefaults(Map<String, Object> defaults, String className) {
        for (Map.Entry<String, Object> e : defaults.entrySet()) {
            if (!root.has(e.getKey())) continue; // absent: diffusers uses the default
            JsonNode n = get(e.getKey());
            Object want = e.getValue();
            Object have = n == null ? null : n.isBoolean() ? (Object) n.asBoolean()
                    : n.isTextual() ? n.asText() : n.isNumber() ? (Object) n.numberValue() : n.toString();
            boolean same = want instanceof Number w && have instanceof Number h
                    ? w.doubleValue() == h.doubleValue() : Objects.equals(want, have);
            if (!same) {
                throw error(e.getKey(), "is " + n + ", but jdiffusion's " + className + " supports only "
                        + (want == null ? "null" : want instanceof String s ? "\"" + s + "\"" : want)
                        + " (the Stable Diffusion 1.x/2.x architecture)");
            }
        }
    }
}
