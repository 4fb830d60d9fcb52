package jdiffusion.server;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.image.PngWriter;
import jdiffusion.lora.LoRAFiles;
import jdiffusion.pipelines.PngParameters;
import jdiffusion.schedulers.Schedulers;

/**
 * AUTOMATIC1111's {@code /sdapi/v1} routes, with the field names, defaults and response shapes of
 * its {@code modules/api/models.py}. txt2img and img2img block until their job ends, queued behind
 * every other job; {@code info} is the JSON string A1111 returns (its {@code Processed.js()}).
 */
final class A1111Api {
    private static final DateTimeFormatter JOB_TIMESTAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss").withZone(ZoneId.systemDefault());
    private final ServerState s;

    A1111Api(ServerState state) {
        this.s = state;
    }

    void register(RoutesConfig r) {
        r.post("/sdapi/v1/txt2img", ctx -> generate(ctx, "txt2img"));
        r.post("/sdapi/v1/img2img", ctx -> generate(ctx, "img2img"));
        r.get("/sdapi/v1/progress", this::progress);
        r.post("/sdapi/v1/interrupt", ctx -> {
            s.queue.interruptRunning();
            s.send(ctx, 200, s.json.createObjectNode());
        });
        r.post("/sdapi/v1/skip", ctx -> {
            s.queue.skipRunning();
            s.send(ctx, 200, s.json.createObjectNode());
        });
        r.post("/sdapi/v1/png-info", this::pngInfo);
        r.get("/sdapi/v1/samplers", this::samplers);
        r.get("/sdapi/v1/schedulers", this::schedulers);
        r.get("/sdapi/v1/sd-models", this::models);
        r.get("/sdapi/v1/sd-vae", ctx -> s.send(ctx, 200, s.json.createArrayNode()));
        r.get("/sdapi/v1/upscalers", ctx -> s.send(ctx, 200, s.json.createArrayNode()));
        r.get("/sdapi/v1/loras", this::loras);
        r.get("/sdapi/v1/embeddings", this::embeddings);
        r.get("/sdapi/v1/options", ctx -> s.send(ctx, 200, options()));
        r.post("/sdapi/v1/options", this::setOptions);
        r.post("/sdapi/v1/refresh-checkpoints", ctx -> {
            s.catalog.refresh();
            s.send(ctx, 200, s.json.nullNode());
        });
        r.post("/sdapi/v1/refresh-loras", ctx -> s.send(ctx, 200, s.json.nullNode()));
    }

    private void generate(Context ctx, String type) throws Exception {
        GenerationParams p = s.parse(type, s.body(ctx));
        String id = p.forceTaskId() != null ? p.forceTaskId() : "task(" + UUID.randomUUID().toString().replace("-", "").substring(0, 15) + ")";
        Job job = new Job(id, p, false, Instant.now());
        s.queue.submit(job);
        Job done;
        try {
            done = job.done.get();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
        try {
            if (done.status() == Job.Status.FAILED) {
                boolean internal = done.error() != null && done.error().startsWith("internal error");
                throw new ApiException(internal ? 500 : 422, internal ? "generation_failed" : "invalid_request", null, done.error());
            }
            ObjectNode out = s.json.createObjectNode();
            ArrayNode images = out.putArray("images");
            if (p.sendImages()) for (byte[] png : done.pngs()) images.add(Base64.getEncoder().encodeToString(png));
            ObjectNode parameters = p.body().deepCopy();
            if (!new RequestFields(parameters).bool("include_init_images", false)) {
                if (parameters.has("init_images")) parameters.putNull("init_images");
                if (parameters.has("mask")) parameters.putNull("mask");
            }
            out.set("parameters", parameters);
            out.put("info", s.json.writeValueAsString(info(done)));
            s.send(ctx, 200, out);
        } finally {
            done.releasePngs();
        }
    }

    /** A1111's {@code Processed.js()}: what the request made, seeds and infotexts included. */
    ObjectNode info(Job job) {
        GenerationParams p = job.params;
        ObjectNode o = s.json.createObjectNode();
        int n = job.infotexts().size();
        o.put("prompt", p.prompt());
        ArrayNode prompts = o.putArray("all_prompts");
        o.put("negative_prompt", p.negativePrompt());
        ArrayNode negatives = o.putArray("all_negative_prompts");
        o.put("seed", p.seed());
        ArrayNode seeds = o.putArray("all_seeds");
        o.put("subseed", -1);
        ArrayNode subseeds = o.putArray("all_subseeds");
        for (int i = 0; i < Math.max(n, p.imageCount()); i++) {
            prompts.add(p.prompt());
            negatives.add(p.negativePrompt());
            seeds.add(p.seed() + i);
            subseeds.add(-1);
        }
        o.put("subseed_strength", 0);
        o.put("width", p.width());
        o.put("height", p.height());
        o.put("sampler_name", p.sampler());
        o.put("cfg_scale", p.cfgScale());
        o.put("steps", p.steps());
        o.put("batch_size", p.batchSize());
        o.put("restore_faces", false);
        o.putNull("face_restoration_model");
        o.put("sd_model_name", ModelCatalog.stem(s.modelOf(p).title()));
        o.putNull("sd_model_hash");
        o.putNull("sd_vae_name");
        o.putNull("sd_vae_hash");
        o.put("seed_resize_from_w", -1);
        o.put("seed_resize_from_h", -1);
        if (p.isImg2Img()) o.put("denoising_strength", p.denoisingStrength()); else o.putNull("denoising_strength");
        o.putObject("extra_generation_params");
        o.put("index_of_first_image", 0);
        ArrayNode infotexts = o.putArray("infotexts");
        job.infotexts().forEach(infotexts::add);
        o.putArray("styles");
        o.put("job_timestamp", JOB_TIMESTAMP.format(job.started() == null ? job.created : job.started()));
        o.put("clip_skip", p.clipSkip() + 1);
        o.put("is_using_inpainting_conditioning", p.isInpainting());
        o.put("version", "jdiffusion 0.1.0");
        ArrayNode warnings = o.putArray("warnings");
        p.warnings().forEach(warnings::add);
        job.warnings().forEach(warnings::add);
        if (job.status() == Job.Status.CANCELLED) warnings.add("interrupted: " + job.error());
        return o;
    }

    /** A1111's progress formula (modules/api/api.py progressapi) over the running job. */
    private void progress(Context ctx) {
        boolean skipImage = "true".equalsIgnoreCase(ctx.queryParam("skip_current_image"));
        Job job = s.queue.running();
        ObjectNode o = s.json.createObjectNode();
        ObjectNode state = s.json.createObjectNode();
        state.put("skipped", false);
        state.put("interrupted", job != null && job.cancelRequested());
        state.put("stopping_generation", false);
        state.put("job", job == null ? "" : job.id);
        state.put("job_count", job == null ? 0 : job.params.imageCount());
        state.put("job_timestamp", job == null || job.started() == null ? "0" : JOB_TIMESTAMP.format(job.started()));
        state.put("job_no", job == null ? 0 : job.imageNo());
        state.put("sampling_step", job == null ? 0 : job.step());
        state.put("sampling_steps", job == null ? 0 : job.steps());
        if (job == null) {
            o.put("progress", 0.0).put("eta_relative", 0.0);
            o.set("state", state);
            o.putNull("current_image");
            o.putNull("textinfo");
            s.send(ctx, 200, o);
            return;
        }
        int count = job.params.imageCount();
        double progress = 0.01 + (double) job.imageNo() / count;
        if (job.steps() > 0) progress += 1.0 / count * job.step() / job.steps();
        double sinceStart = job.started() == null ? 0 : (System.currentTimeMillis() - job.started().toEpochMilli()) / 1000.0;
        double eta = sinceStart / progress;
        o.put("progress", Math.min(progress, 1.0));
        o.put("eta_relative", eta - sinceStart);
        o.set("state", state);
        byte[] preview = job.lastPreview();
        if (skipImage || preview == null) o.putNull("current_image");
        else o.put("current_image", Base64.getEncoder().encodeToString(preview));
        o.put("textinfo", "image " + (job.imageNo() + 1) + " of " + count + ", step " + job.step() + " of " + job.steps());
        s.send(ctx, 200, o);
    }

    private void pngInfo(Context ctx) throws IOException {
        RequestFields f = RequestFields.of(s.body(ctx), "the body");
        String image = f.text("image", null, Integer.MAX_VALUE);
        if (image == null || image.isBlank()) throw ApiException.invalid("image", "image (base64 PNG) is required");
        byte[] bytes = Base64Images.bytes("image", image);
        Base64Images.decode("image", image, s.options.maxPixels()); // an image at all, within the limits
        ObjectNode out = s.json.createObjectNode();
        String text = null;
        Path tmp = Files.createTempFile("jdiffusion-png-info-", ".png");
        try {
            Files.write(tmp, bytes);
            text = PngWriter.readText(tmp, "parameters");
        } catch (JDiffusionException notPng) {
            text = null; // JPEG/BMP/GIF: no parameters chunk to read
        } finally {
            Files.deleteIfExists(tmp);
        }
        out.put("info", text == null ? "" : text);
        ObjectNode items = out.putObject("items");
        ObjectNode params = out.putObject("parameters");
        if (text != null) {
            items.put("parameters", text);
            try {
                PngParameters pp = PngParameters.parse(text);
                params.put("Prompt", pp.prompt());
                params.put("Negative prompt", pp.negativePrompt());
                for (Map.Entry<String, String> e : pp.settings().entrySet()) {
                    params.put(e.getKey(), e.getValue());
                    if (e.getKey().equals("Size") && e.getValue().matches("\\d+x\\d+")) {
                        String[] wh = e.getValue().split("x");
                        params.put("Size-1", wh[0]);
                        params.put("Size-2", wh[1]);
                    }
                }
            } catch (JDiffusionException unreadable) {
                params.put("Prompt", text);
            }
        }
        s.send(ctx, 200, out);
    }

    private void samplers(Context ctx) {
        ArrayNode a = s.json.createArrayNode();
        for (Schedulers.Sampler sm : Schedulers.samplers()) {
            ObjectNode o = a.addObject();
            o.put("name", sm.name());
            o.putArray("aliases").add(sm.kind().className());
            ObjectNode opts = o.putObject("options");
            sm.options().forEach((k, v) -> opts.put(k, String.valueOf(v)));
        }
        s.send(ctx, 200, a);
    }

    private void schedulers(Context ctx) {
        ArrayNode a = s.json.createArrayNode();
        a.addObject().put("name", "automatic").put("label", "Automatic").putNull("aliases").put("default_rho", -1).put("need_inner_model", false);
        a.addObject().put("name", "karras").put("label", "Karras").putNull("aliases").put("default_rho", 7.0).put("need_inner_model", false);
        s.send(ctx, 200, a);
    }

    private void models(Context ctx) {
        ArrayNode a = s.json.createArrayNode();
        for (ModelCatalog.Entry e : s.catalog.entries()) {
            ObjectNode o = a.addObject();
            o.put("title", e.title());
            o.put("model_name", ModelCatalog.stem(e.title()));
            o.putNull("hash");
            o.putNull("sha256");
            o.put("filename", e.title());
            o.putNull("config");
        }
        s.send(ctx, 200, a);
    }

    private void loras(Context ctx) throws IOException {
        ArrayNode a = s.json.createArrayNode();
        Path dir = s.options.loraDir();
        if (dir != null && Files.isDirectory(dir)) {
            try (Stream<Path> walk = Files.walk(dir, 4)) {
                for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                    String name = p.getFileName().toString();
                    if (!LoRAFiles.hasLoRAExtension(name)) continue;
                    String stem = name.substring(0, name.lastIndexOf('.'));
                    a.addObject().put("name", stem).put("alias", stem).put("path", dir.relativize(p).toString()).putObject("metadata");
                }
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }
        s.send(ctx, 200, a);
    }

    private void embeddings(Context ctx) {
        ObjectNode o = s.json.createObjectNode();
        ObjectNode loaded = o.putObject("loaded");
        for (Path p : s.catalog.embeddings()) {
            String name = p.getFileName().toString();
            String stem = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
            loaded.putObject(stem).putNull("step").putNull("sd_checkpoint").putNull("sd_checkpoint_name")
                    .put("shape", -1).put("vectors", -1);
        }
        o.putObject("skipped");
        s.send(ctx, 200, o);
    }

    private ObjectNode options() {
        ObjectNode o = s.json.createObjectNode();
        o.put("sd_model_checkpoint", s.currentModel().title());
        o.put("CLIP_stop_at_last_layers", s.clipStop());
        return o;
    }

    /** Only sd_model_checkpoint and CLIP_stop_at_last_layers are honoured; other keys are ignored, as unknown options are by A1111. */
    private void setOptions(Context ctx) {
        RequestFields f = RequestFields.of(s.body(ctx), "the body");
        String model = f.text("sd_model_checkpoint", null, 1000);
        ModelCatalog.Entry entry = model == null ? null : s.catalog.find(model).orElseThrow(() ->
                ApiException.invalid("sd_model_checkpoint", "no model '" + model + "'; GET /sdapi/v1/sd-models lists them"));
        int clip = f.integer("CLIP_stop_at_last_layers", s.clipStop(), 1, 12);
        if (entry != null) s.setCurrentModel(entry);
        s.setClipStop(clip);
        s.send(ctx, 200, s.json.nullNode());
    }
}
