package jdiffusion.pipelines;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.JDiffusionException;

/**
 * Generation parameters in AUTOMATIC1111's text format, as stored in a PNG's {@code parameters}
 * chunk:
 * <pre>
 * a photo of an astronaut
 * Negative prompt: blurry
 * Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15
 * </pre>
 * Values holding a comma, colon or quote are written as JSON strings, as A1111 does.
 */
public record PngParameters(String prompt, String negativePrompt, Map<String, String> settings) {
    /** A1111's own pattern for the settings line (modules/infotext_utils.py re_param). */
    private static final Pattern SETTING = Pattern.compile("\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String NEGATIVE = "Negative prompt: ";

    public PngParameters {
        prompt = prompt == null ? "" : prompt;
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        settings = Collections.unmodifiableMap(new LinkedHashMap<>(settings));
    }

    public String format() {
        StringBuilder sb = new StringBuilder(prompt);
        if (!negativePrompt.isEmpty()) sb.append('\n').append(NEGATIVE).append(negativePrompt);
        StringBuilder line = new StringBuilder();
        settings.forEach((k, v) -> {
            if (!line.isEmpty()) line.append(", ");
            line.append(k).append(": ").append(quote(v));
        });
        return sb.append('\n').append(line).toString();
    }

    private static String quote(String v) {
        if (!v.contains(",") && !v.contains("\n") && !v.contains(":") && !v.contains("\"")) return v;
        try {
            return JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Parses A1111's format: prompt lines, an optional "Negative prompt:" part, then the settings line. */
    public static PngParameters parse(String text) {
        if (text == null || text.isBlank()) throw new JDiffusionException("the image carries no generation parameters");
        String[] lines = text.strip().split("\n");
        String last = lines[lines.length - 1].strip();
        Map<String, String> settings = new LinkedHashMap<>();
        int end = lines.length;
        Matcher m = SETTING.matcher(last);
        int found = 0;
        while (m.find()) {
            if (m.group(1) == null) continue;
            settings.put(m.group(1).strip(), unquote(m.group(2).strip()));
            found++;
        }
        if (found >= 3) {
            end = lines.length - 1;
        } else {
            settings.clear();
        }
        StringBuilder prompt = new StringBuilder();
        StringBuilder negative = null;
        for (int i = 0; i < end; i++) {
            String l = lines[i];
            if (negative == null && l.startsWith(NEGATIVE)) {
                negative = new StringBuilder(l.substring(NEGATIVE.length()));
            } else if (negative != null) {
                negative.append('\n').append(l);
            } else {
                if (i > 0) prompt.append('\n');
                prompt.append(l);
            }
        }
        return new PngParameters(prompt.toString(), negative == null ? "" : negative.toString(), settings);
    }

    private static String unquote(String v) {
        if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
            try {
                return JSON.readValue(v, String.class);
            } catch (JsonProcessingException e) {
                return v;
            }
        }
        return v;
    }

    public String get(String key) {
        return settings.get(key);
    }
}
