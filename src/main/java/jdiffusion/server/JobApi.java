package jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import io.javalin.websocket.WsConfig;
import io.javalin.websocket.WsContext;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;

/**
 * The asynchronous job API ({@code /v1}): submit (202, or 429 when the queue is full), status,
 * list, cancel, images, and a WebSocket per job for live events and ComfyUI-style previews.
 */
final class JobApi {
    /** Names the server writes: the job id, a dash, the image index. Nothing else is served. */
    private static final Pattern IMAGE_NAME = Pattern.compile("[A-Za-z0-9_()-]{1,80}-\\d{1,3}\\.png");
    private final ServerState s;
    /** Seconds the last job took, for Retry-After. */
    private volatile double lastJobSeconds = 5;

    JobApi(ServerState state) {
        this.s = state;
    }

    void register(RoutesConfig r) {
        r.post("/v1/jobs", this::submit);
        r.get("/v1/jobs", this::list);
        r.get("/v1/jobs/{id}", ctx -> s.send(ctx, 200, status(job(ctx.pathParam("id")))));
        r.delete("/v1/jobs/{id}", this::cancel);
        r.get("/v1/images/{name}", this::image);
        r.get("/v1/presets", ctx -> s.send(ctx, 200, Presets.describe(s.json, GenerationParams.Limits.of(s.options))));
        r.ws("/v1/jobs/{id}/ws", this::websocket);
    }

    private Job job(String id) {
        return s.queue.get(id).orElseThrow(() -> ApiException.notFound("no job " + id));
    }

    private ObjectNode status(Job job) {
        return s.events.status(job, s.queue.position(job));
    }

    private void submit(Context ctx) {
        JsonNode body = s.body(ctx);
        RequestFields f = RequestFields.of(body, "the body");
        String type = f.text("type", "txt2img", 20);
        if (!type.equals("txt2img") && !type.equals("img2img") && !type.equals("inpaint")) {
            throw ApiException.invalid("type", "type must be txt2img, img2img or inpaint, not '" + type + "'");
        }
        GenerationParams p = s.parse(type, body);
        Job job = new Job(UUID.randomUUID().toString(), p, true, Instant.now());
        try {
            s.queue.submit(job);
        } catch (ApiException e) {
            if (e.status == 429) ctx.header("Retry-After", Long.toString(retryAfter()));
            throw e;
        }
        job.done.thenRun(() -> {
            if (job.status() == Job.Status.SUCCEEDED && job.started() != null && job.finished() != null) {
                lastJobSeconds = Math.max(0.1, (job.finished().toEpochMilli() - job.started().toEpochMilli()) / 1000.0);
            }
        });
        ObjectNode o = s.json.createObjectNode();
        o.put("id", job.id).put("status", job.status().json()).put("queue_position", s.queue.position(job))
                .put("url", "/v1/jobs/" + job.id);
        ctx.header("Location", "/v1/jobs/" + job.id);
        s.send(ctx, 202, o);
    }

    /** Seconds until a place in the queue is likely free: the running job's rest plus one job. */
    private long retryAfter() {
        Job running = s.queue.running();
        Double eta = running == null ? null : running.etaSeconds(Instant.now());
        return Math.max(1, (long) Math.ceil((eta == null ? 0 : eta) + lastJobSeconds));
    }

    private void list(Context ctx) {
        String st = ctx.queryParam("status");
        Job.Status status = null;
        if (st != null && !st.isEmpty()) {
            try {
                status = Job.Status.valueOf(st.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("status", "status must be queued, running, succeeded, failed or cancelled");
            }
        }
        int limit = intParam(ctx, "limit", 50, 1, 500);
        int offset = intParam(ctx, "offset", 0, 0, Integer.MAX_VALUE);
        ObjectNode o = s.json.createObjectNode();
        ArrayNode jobs = o.putArray("jobs");
        for (Job j : s.queue.list(status, limit, offset)) {
            // a list of img2img jobs would repeat every uploaded image: they are left out, as A1111 leaves them out
            ObjectNode entry = status(j);
            ObjectNode parameters = entry.get("parameters").deepCopy();
            if (parameters.has("init_images")) parameters.putNull("init_images");
            if (parameters.has("mask")) parameters.putNull("mask");
            entry.set("parameters", parameters);
            jobs.add(entry);
        }
        o.put("limit", limit).put("offset", offset);
        s.send(ctx, 200, o);
    }

    private static int intParam(Context ctx, String name, int fallback, int min, int max) {
        String v = ctx.queryParam(name);
        if (v == null || v.isEmpty()) return fallback;
        try {
            int n = Integer.parseInt(v);
            if (n < min || n > max) throw ApiException.invalid(name, name + " must be between " + min + " and " + max);
            return n;
        } catch (NumberFormatException e) {
            throw ApiException.invalid(name, name + " must be an integer");
        }
    }

    private void cancel(Context ctx) throws Exception {
        String id = ctx.pathParam("id");
        switch (s.queue.cancel(id)) {
            case NOT_FOUND -> throw ApiException.notFound("no job " + id);
            case ALREADY_FINISHED -> throw new ApiException(409, "already_finished", null,
                    "job " + id + " has finished (" + job(id).status().json() + "); nothing to cancel");
            case CANCELLED -> s.send(ctx, 200, status(job(id)));
            case STOPPING -> {
                Job job = job(id);
                try {
                    job.done.get(30, TimeUnit.SECONDS); // it stops at the next step
                    s.send(ctx, 200, status(job));
                } catch (TimeoutException slowStep) {
                    s.send(ctx, 202, status(job));
                }
            }
        }
    }

    private void image(Context ctx) throws IOException {
        String name = ctx.pathParam("name");
        if (!IMAGE_NAME.matcher(name).matches()) throw ApiException.notFound("no image " + name);
        Path dir = s.options.outputs().toAbsolutePath().normalize();
        Path file = dir.resolve(name).normalize();
        if (!file.getParent().equals(dir) || !Files.isRegularFile(file)) throw ApiException.notFound("no image " + name);
        ctx.status(200).contentType("image/png").result(Files.readAllBytes(file));
    }

    private final Map<String, Job.Listener> sockets = new ConcurrentHashMap<>();

    private void websocket(WsConfig ws) {
        ws.onConnect(ctx -> {
            Job job = s.queue.get(ctx.pathParam("id")).orElse(null);
            if (job == null) {
                ctx.closeSession(4404, "no such job");
                return;
            }
            Job.Listener l = new Job.Listener() {
                @Override
                public void event(ObjectNode json) {
                    send(ctx, json.toString());
                    if (isTerminal(json)) ctx.closeSession(1000, "job ended");
                }

                @Override
                public void preview(byte[] frame) {
                    if (ctx.session.isOpen()) ctx.send(ByteBuffer.wrap(frame));
                }
            };
            sockets.put(ctx.sessionId(), l);
            job.listeners.add(l);
            // the state at connect time: a late watcher still learns where the job is, or how it ended
            Job.Status st = job.status();
            if (st.finished()) {
                job.listeners.remove(l);
                l.event(s.events.event(JobEvents.terminal(st), job));
            } else {
                ObjectNode now = s.events.event(st == Job.Status.QUEUED ? "queued" : "started", job);
                now.put("queue_position", s.queue.position(job));
                send(ctx, now.toString());
            }
        });
        ws.onClose(ctx -> {
            Job.Listener l = sockets.remove(ctx.sessionId());
            if (l != null) s.queue.get(ctx.pathParam("id")).ifPresent(j -> j.listeners.remove(l));
        });
    }

    private static boolean isTerminal(ObjectNode json) {
        String t = json.path("type").asText();
        return t.equals("succeeded") || t.equals("failed") || t.equals("cancelled");
    }

    private static void send(WsContext ctx, String text) {
        if (ctx.session.isOpen()) ctx.send(text);
    }
}
