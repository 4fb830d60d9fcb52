package jdiffusion.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;

/**
 * The job API's JSON: a job's status ({@code GET /v1/jobs/{id}}) and the events sent to its
 * WebSocket watchers ({@code queued}, {@code started}, {@code progress}, {@code succeeded},
 * {@code failed}, {@code cancelled}), plus preview frames in ComfyUI's binary layout.
 */
final class JobEvents {
    static final String IMAGES = "/v1/images/";
    private final ObjectMapper json;

    JobEvents(ObjectMapper json) {
        this.json = json;
    }

    ObjectNode status(Job job, int queuePosition) {
        Instant now = Instant.now();
        ObjectNode o = json.createObjectNode();
        o.put("id", job.id);
        o.put("type", job.params.type());
        o.put("status", job.status().json());
        o.put("queue_position", queuePosition);
        o.put("step", job.step());
        o.put("steps", job.steps());
        o.put("image", job.imageNo());
        o.put("image_count", job.params.imageCount());
        o.put("progress", job.fraction());
        Double eta = job.etaSeconds(now);
        if (eta == null) o.putNull("eta_s"); else o.put("eta_s", eta);
        o.put("created", job.created.toString());
        o.put("started", job.started() == null ? null : job.started().toString());
        o.put("finished", job.finished() == null ? null : job.finished().toString());
        o.put("error", job.error());
        ArrayNode images = o.putArray("images");
        job.images().forEach(n -> images.add(IMAGES + n));
        ArrayNode warnings = o.putArray("warnings");
        job.params.warnings().forEach(warnings::add);
        job.warnings().forEach(warnings::add);
        o.set("parameters", job.params.body());
        return o;
    }

    ObjectNode event(String type, Job job) {
        ObjectNode o = json.createObjectNode().put("type", type).put("id", job.id);
        switch (type) {
            case "progress" -> {
                o.put("step", job.step()).put("steps", job.steps()).put("image", job.imageNo())
                        .put("image_count", job.params.imageCount()).put("progress", job.fraction());
                Double eta = job.etaSeconds(Instant.now());
                if (eta == null) o.putNull("eta_s"); else o.put("eta_s", eta);
            }
            case "succeeded" -> {
                ArrayNode images = o.putArray("images");
                job.images().forEach(n -> images.add(IMAGES + n));
            }
            case "failed", "cancelled" -> o.put("error", job.error());
            default -> { }
        }
        return o;
    }

    void send(Job job, String type) {
        ObjectNode e = event(type, job);
        for (Job.Listener l : job.listeners) l.event(e);
    }

    void progress(Job job, byte[] previewJpeg) {
        if (job.listeners.isEmpty()) return;
        send(job, "progress");
        if (previewJpeg != null) {
            byte[] frame = LatentPreview.frame(previewJpeg);
            for (Job.Listener l : job.listeners) l.preview(frame);
        }
    }

    /** The event that ends a job's stream, by its final status. */
    static String terminal(Job.Status s) {
        return switch (s) {
            case SUCCEEDED -> "succeeded";
            case FAILED -> "failed";
            case CANCELLED -> "cancelled";
            default -> throw new IllegalArgumentException(s + " is not final");
        };
    }
}
