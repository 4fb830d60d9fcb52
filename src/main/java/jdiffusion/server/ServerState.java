package jdiffusion.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javalin.http.Context;
import java.io.IOException;

/**
 * What the routes share: the options, the model catalog, the queue, the JSON mapper, and the two
 * settings A1111's {@code POST /options} may change (the current model and CLIP skip).
 */
final class ServerState {
    /** Deep nesting is refused by the parser itself, before any tree is built. */
    static final int MAX_NESTING = 64;

    final ServerOptions options;
    final ObjectMapper json;
    final ModelCatalog catalog;
    final JobEvents events;
    JobQueue queue;
    private volatile ModelCatalog.Entry currentModel;
    private volatile int clipStop = 1;

    ServerState(ServerOptions options, ModelCatalog catalog) {
        this.options = options;
        this.catalog = catalog;
        this.json = mapper();
        this.events = new JobEvents(json);
        this.currentModel = catalog.defaultEntry();
    }

    static ObjectMapper mapper() {
        ObjectMapper m = new ObjectMapper().enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        m.getFactory().setStreamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_NESTING).build());
        return m;
    }

    ModelCatalog.Entry currentModel() {
        return currentModel;
    }

    void setCurrentModel(ModelCatalog.Entry e) {
        currentModel = e;
    }

    int clipStop() {
        return clipStop;
    }

    void setClipStop(int v) {
        clipStop = v;
    }

    GenerationParams parse(String type, JsonNode body) {
        return GenerationParams.parse(type, body, GenerationParams.Limits.of(options), catalog, currentModel.title(), clipStop);
    }

    ModelCatalog.Entry modelOf(GenerationParams p) {
        return catalog.find(p.model()).orElseThrow(() -> new ApiException(422, "invalid_field",
                "override_settings.sd_model_checkpoint", "the model '" + p.model() + "' is not listed any more"));
    }

    /** The request body as JSON; 400 when it is not JSON, 413 (from Javalin) when too large. */
    JsonNode body(Context ctx) {
        byte[] bytes = ctx.bodyAsBytes();
        if (bytes.length == 0) throw new ApiException(400, "invalid_json", null, "the body is empty; send a JSON object");
        try {
            JsonNode n = json.readTree(bytes);
            if (n == null || n.isMissingNode()) throw new ApiException(400, "invalid_json", null, "the body is empty; send a JSON object");
            return n;
        } catch (JsonProcessingException e) {
            throw new ApiException(400, "invalid_json", null, "the body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ApiException(400, "invalid_json", null, "the body cannot be read: " + e.getMessage());
        }
    }

    void send(Context ctx, int status, JsonNode body) {
        try {
            ctx.status(status).contentType("application/json").result(json.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    void error(Context ctx, int status, String error, String field, String detail) {
        var o = json.createObjectNode().put("error", error).put("detail", detail);
        o.put("field", field);
        send(ctx, status, o);
    }
}
