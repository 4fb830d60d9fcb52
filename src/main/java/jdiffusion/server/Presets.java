package jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Locale;
import jdiffusion.lora.LoRASpec;

/**
 * Named request defaults, asked for with {@code "preset": "fast"} in an A1111 or job body. A preset
 * only fills fields the body leaves out, and stays in the body, so the journal's re-run after a restart
 * is the same job.
 *
 * <p>{@code fast} is the CPU fast path of docs/speed.md: LCM, 4 steps, guidance 1 (one UNet call per
 * step), plus {@code serve --fast-lora FILE} (the LCM-LoRA that makes an SD 1.5 model a consistency
 * model) at weight 1 when given. Without it the preset suits models that are LCM-distilled themselves.
 */
final class Presets {
    static final String FAST = "fast";

    private Presets() {}

    /** Fills {@code body}'s missing fields from its preset; returns the LoRAs the preset adds. 422 on an unknown preset. */
    static List<LoRASpec> apply(ObjectNode body, GenerationParams.Limits limits) {
        JsonNode n = body.get("preset");
        if (n == null || n.isNull() || (n.isTextual() && n.textValue().isBlank())) return List.of();
        if (!n.isTextual()) throw ApiException.invalid("preset", "preset must be a string; GET /v1/presets lists them");
        String name = n.textValue().strip().toLowerCase(Locale.ROOT);
        if (!name.equals(FAST)) {
            throw ApiException.invalid("preset", "no preset '" + n.textValue() + "'; GET /v1/presets lists them");
        }
        if (!body.hasNonNull("sampler_name") && !body.hasNonNull("sampler_index")) body.put("sampler_name", "LCM");
        if (!body.hasNonNull("steps")) body.put("steps", 4);
        if (!body.hasNonNull("cfg_scale")) body.put("cfg_scale", 1.0);
        return limits.fastLora() == null ? List.of() : List.of(LoRASpec.file(limits.fastLora(), 1.0));
    }

    /** What GET /v1/presets answers: each preset's fields and LoRA. */
    static ObjectNode describe(ObjectMapper json, GenerationParams.Limits limits) {
        ObjectNode out = json.createObjectNode();
        ObjectNode fast = out.putObject(FAST);
        fast.put("sampler_name", "LCM");
        fast.put("steps", 4);
        fast.put("cfg_scale", 1.0);
        if (limits.fastLora() == null) fast.putNull("lora");
        else fast.put("lora", limits.fastLora().getFileName().toString());
        return out;
    }
}
