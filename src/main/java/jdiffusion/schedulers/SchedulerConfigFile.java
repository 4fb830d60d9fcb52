package jdiffusion.schedulers;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import jdiffusion.JDiffusionException;

/**
 * A {@code scheduler_config.json} as diffusers' {@code from_config} sees it: the class it was saved
 * from and the keys that were explicitly set. Keys starting with "_" are metadata, and keys listed in
 * {@code _use_default_values} (written by newer diffusers) were class defaults, so neither carries
 * over to another scheduler class (Pitfall 18).
 */
public record SchedulerConfigFile(String className, Map<String, JsonNode> values) {
    // Python's json module writes -Infinity (lambda_min_clipped) and NaN
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    public SchedulerConfigFile {
        values = Map.copyOf(values);
    }

    /** An empty source: every key takes the class defaults. */
    public static SchedulerConfigFile empty() {
        return new SchedulerConfigFile(null, Map.of());
    }

    public static SchedulerConfigFile read(Path path) {
        String text;
        try {
            text = Files.readString(path);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read the scheduler config " + path + ": " + e.getMessage(), e);
        }
        try {
            return parse(text);
        } catch (JDiffusionException e) {
            throw new JDiffusionException(path + ": " + e.getMessage(), e);
        }
    }

    public static SchedulerConfigFile parse(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new JDiffusionException("the scheduler config is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) throw new JDiffusionException("the scheduler config must be a JSON object");
        Set<String> defaulted = new HashSet<>();
        JsonNode used = root.get("_use_default_values");
        if (used != null && used.isArray()) used.forEach(k -> defaulted.add(k.asText()));
        Map<String, JsonNode> values = new LinkedHashMap<>();
        root.properties().forEach(e -> {
            if (!e.getKey().startsWith("_") && !defaulted.contains(e.getKey())) values.put(e.getKey(), e.getValue());
        });
        JsonNode cls = root.get("_class_name");
        return new SchedulerConfigFile(cls != null && cls.isTextual() ? cls.asText() : null, values);
    }
}
