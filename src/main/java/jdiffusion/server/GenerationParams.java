package jdiffusion.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images.ResizeMode;
import jdiffusion.lora.LoRAFiles;
import jdiffusion.lora.LoRASpec;
import jdiffusion.models.unet.DeepCache;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.VAETiling;
import jdiffusion.prompts.ExtraNetworks;
import jdiffusion.prompts.LongPromptMode;
import jdiffusion.prompts.LoraTag;
import jdiffusion.prompts.PromptParser;
import jdiffusion.schedulers.Schedulers;

/**
 * One A1111 txt2img / img2img body, validated: the field names and defaults of A1111's
 * {@code StableDiffusionTxt2ImgProcessingAPI} / {@code ...Img2ImgProcessingAPI} (modules/api/models.py).
 * Every image of the request is generated on its own with seed {@code seed + k}, so image k is
 * reproducible from the seed in its infotext, as A1111's {@code all_seeds} promise.
 *
 * @param body      the request as received, with {@code seed} made concrete (what the journal keeps)
 * @param model     the catalog title of the model
 * @param sampler   the A1111 sampler name (scheduler "karras" already folded in)
 * @param warnings  fields accepted but not honoured, named for A1111's {@code info}
 * @param loras     LoRAs added by a preset (the prompt's own {@code <lora:...>} tags are read by the pipeline)
 * @param deepCache jdiffusion's own field {@code "deepcache"}: DeepCache's interval, 0 = off (the CLI's --deepcache)
 */
record GenerationParams(String type, ObjectNode body, String prompt, String negativePrompt, long seed, String sampler,
                        int steps, double cfgScale, int width, int height, int batchSize, int nIter, String model,
                        int clipSkip, double eta, BufferedImage initImage, BufferedImage mask, int maskBlur,
                        double denoisingStrength, ResizeMode resizeMode, boolean sendImages, boolean saveImages,
                        String forceTaskId, List<String> warnings, List<LoRASpec> loras, int deepCache) {

    static final int MAX_PROMPT = 20_000;
    private static final SecureRandom SEEDS = new SecureRandom();

    int imageCount() {
        return batchSize * nIter;
    }

    boolean isImg2Img() {
        return type.equals("img2img");
    }

    /** img2img with a mask (the body says so; the decoded mask is dropped once the job has ended). */
    boolean isInpainting() {
        JsonNode m = body.get("mask");
        return isImg2Img() && m != null && m.isTextual() && !m.textValue().isEmpty();
    }

    /** The same parameters without the decoded images: what a finished job keeps (its body still has them). */
    GenerationParams withoutImages() {
        return new GenerationParams(type, body, prompt, negativePrompt, seed, sampler, steps, cfgScale, width, height,
                batchSize, nIter, model, clipSkip, eta, null, null, maskBlur, denoisingStrength, resizeMode, sendImages,
                saveImages, forceTaskId, warnings, loras, deepCache);
    }

    /** The library request for image {@code index} of this job: one image, seed + index. */
    GenerationRequest request(int index, Path loraDir) {
        GenerationRequest.Builder b = GenerationRequest.builder(prompt)
                .negativePrompt(negativePrompt).steps(steps).guidanceScale(cfgScale).sampler(sampler)
                .size(width, height).seed(seed + index).numImages(1).clipSkip(clipSkip)
                .longPrompts(LongPromptMode.CHUNK).loraDir(loraDir).vaeTiling(VAETiling.AUTO).loras(loras)
                .deepCache(deepCache);
        if (eta > 0 && sampler.equals("DDIM")) b.eta(eta);
        if (isImg2Img()) {
            b.initImage(initImage).strength(denoisingStrength).resizeMode(resizeMode);
            if (mask != null) b.mask(mask).maskBlur(maskBlur).keepUnmasked(true);
        }
        return b.build();
    }

    /** Keys that would change the picture in a way jdiffusion cannot do: a 422 when set to a non-default. */
    private static final Map<String, String> UNSUPPORTED = Map.of(
            "enable_hr", "hires fix is not available yet",
            "tiling", "seamless tiling is not available",
            "script_name", "scripts are not available");

    /** Keys accepted and ignored (named in info's warnings when they carry a non-default value). */
    private static final List<String> IGNORED = List.of("restore_faces", "alwayson_scripts", "styles", "s_churn",
            "s_tmax", "s_tmin", "s_noise", "hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_resize_x",
            "hr_resize_y", "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler", "hr_prompt", "hr_negative_prompt",
            "firstphase_width", "firstphase_height", "image_cfg_scale", "initial_noise_multiplier", "refiner_checkpoint",
            "refiner_switch_at", "script_args", "comments", "disable_extra_networks", "infotext", "mask_round");

    /**
     * Parses a body. {@code type} is "txt2img" or "img2img" ("inpaint" is img2img with a mask).
     * Throws {@link ApiException} (422 naming the field) on any bad value.
     */
    static GenerationParams parse(String type, JsonNode json, Limits limits, ModelCatalog catalog, String defaultModel,
                                  int defaultClipStop) {
        ObjectNode body = RequestFields.of(json, "the body").body().deepCopy();
        List<LoRASpec> presetLoras = Presets.apply(body, limits);
        RequestFields f = new RequestFields(body.deepCopy());
        List<String> warnings = new ArrayList<>();
        boolean img2img = type.equals("img2img") || type.equals("inpaint");

        for (var e : UNSUPPORTED.entrySet()) {
            JsonNode n = f.node(e.getKey());
            boolean set = n != null && !n.isNull() && !(n.isBoolean() && !n.booleanValue())
                    && !(n.isTextual() && n.textValue().isEmpty());
            if (set) throw ApiException.invalid(e.getKey(), e.getKey() + " = " + n + ": " + e.getValue());
        }
        for (String k : IGNORED) {
            JsonNode n = f.node(k);
            if (n != null && !n.isNull() && !isDefaultish(n)) warnings.add(k + " is not supported and was ignored");
        }
        if (f.number("subseed_strength", 0, 0, 1) > 0) {
            throw ApiException.invalid("subseed_strength", "variation seeds (subseed_strength > 0) are not available");
        }
        if (f.integer("seed_resize_from_w", -1, -1, 65536) > 0 || f.integer("seed_resize_from_h", -1, -1, 65536) > 0) {
            throw ApiException.invalid("seed_resize_from_w", "resize seed from width/height is not available");
        }

        String prompt = f.text("prompt", "", MAX_PROMPT);
        String negative = f.text("negative_prompt", "", MAX_PROMPT);
        checkText("prompt", prompt);
        checkText("negative_prompt", negative);
        checkLoras(prompt, limits.loraDir());

        long seed = f.integer("seed", -1L, -1L, 0xFFFF_FFFFL);
        if (seed == -1) seed = SEEDS.nextLong(0, 0xFFFF_FFFFL);
        body.put("seed", seed);

        String sampler = sampler(f);
        int steps = f.integer("steps", 50, 1, limits.maxSteps());
        double cfg = f.number("cfg_scale", 7.0, 0, 100);
        int width = f.integer("width", 512, 8, 8192);
        int height = f.integer("height", 512, 8, 8192);
        if (width % 8 != 0) throw ApiException.invalid("width", "width must be a multiple of 8, not " + width);
        if (height % 8 != 0) throw ApiException.invalid("height", "height must be a multiple of 8, not " + height);
        if ((long) width * height > limits.maxPixels()) {
            throw ApiException.invalid("width", width + "x" + height + " is more than " + limits.maxPixels()
                    + " pixels (--max-pixels)");
        }
        int batch = f.integer("batch_size", 1, 1, limits.maxBatch());
        int nIter = f.integer("n_iter", 1, 1, limits.maxBatch());
        if (batch * nIter > limits.maxBatch()) {
            throw ApiException.invalid("n_iter", "batch_size x n_iter = " + batch * nIter + " images; at most "
                    + limits.maxBatch() + " per request (--max-batch)");
        }
        double eta = f.number("eta", 0, 0, 1);
        int deepCache = f.integer("deepcache", 0, 0, DeepCache.MAX_INTERVAL);
        boolean send = f.bool("send_images", true);
        boolean save = f.bool("save_images", false);
        String taskId = f.text("force_task_id", null, 64);
        if (taskId != null && !taskId.matches("[A-Za-z0-9_()-]{1,64}")) {
            throw ApiException.invalid("force_task_id", "force_task_id may hold letters, digits, '_', '-', '(' and ')' only");
        }

        // override_settings: the two keys jdiffusion honours; others are named in a warning
        String model = defaultModel;
        int clipSkip = defaultClipStop - 1;
        ObjectNode overrides = f.object("override_settings");
        if (overrides != null) {
            RequestFields o = new RequestFields(overrides);
            String checkpoint = o.text("sd_model_checkpoint", null, 1000);
            if (checkpoint != null) {
                model = catalog.find(checkpoint).orElseThrow(() -> ApiException.invalid("override_settings.sd_model_checkpoint",
                        "no model '" + checkpoint + "'; GET /sdapi/v1/sd-models lists them")).title();
            }
            clipSkip = o.integer("CLIP_stop_at_last_layers", defaultClipStop, 1, 12) - 1;
            overrides.fieldNames().forEachRemaining(k -> {
                if (!k.equals("sd_model_checkpoint") && !k.equals("CLIP_stop_at_last_layers")) {
                    warnings.add("override_settings." + k + " is not supported and was ignored");
                }
            });
        }

        // the journal keeps what this request will run with, so a re-run after a restart is the same job
        ObjectNode settled = body.has("override_settings") && body.get("override_settings").isObject()
                ? (ObjectNode) body.get("override_settings") : body.putObject("override_settings");
        settled.put("sd_model_checkpoint", model);
        settled.put("CLIP_stop_at_last_layers", clipSkip + 1);
        body.put("type", type);

        BufferedImage init = null;
        BufferedImage mask = null;
        int maskBlur = 4;
        double strength = 0.75;
        ResizeMode resize = ResizeMode.RESIZE;
        if (img2img) {
            JsonNode images = f.node("init_images");
            if (images == null || !images.isArray() || images.isEmpty()) {
                throw ApiException.invalid("init_images", "init_images must be a list with one base64 image");
            }
            if (images.size() > 1) throw ApiException.invalid("init_images", "init_images holds " + images.size() + " images; one is supported");
            if (!images.get(0).isTextual()) throw ApiException.invalid("init_images", "init_images[0] must be a base64 string");
            init = Base64Images.decode("init_images", images.get(0).textValue(), limits.maxPixels());
            strength = f.number("denoising_strength", 0.75, 0, 1);
            if (strength == 0) throw ApiException.invalid("denoising_strength", "denoising_strength must be above 0");
            resize = switch (f.integer("resize_mode", 0, 0, 3)) {
                case 0 -> ResizeMode.RESIZE;
                case 1 -> ResizeMode.CROP;
                case 2 -> ResizeMode.FILL;
                default -> throw ApiException.invalid("resize_mode", "resize_mode 3 (latent upscale) is not available");
            };
            String maskText = f.text("mask", null, Integer.MAX_VALUE);
            if (maskText != null && !maskText.isEmpty()) {
                mask = Base64Images.decode("mask", maskText, limits.maxPixels());
                if (mask.getWidth() != init.getWidth() || mask.getHeight() != init.getHeight()) {
                    throw ApiException.invalid("mask", "the mask is " + mask.getWidth() + "x" + mask.getHeight()
                            + " but the image is " + init.getWidth() + "x" + init.getHeight());
                }
                maskBlur = f.integer("mask_blur", 4, 0, 64);
                if (f.integer("inpainting_mask_invert", 0, 0, 1) == 1) mask = MaskFill.invert(mask);
                int fill = f.integer("inpainting_fill", 0, 0, 3);
                switch (fill) {
                    case 0 -> init = MaskFill.fill(init, mask);
                    case 1 -> { }
                    default -> throw ApiException.invalid("inpainting_fill", "inpainting_fill " + fill
                            + " (latent noise / latent nothing) is not available; use 0 (fill) or 1 (original)");
                }
                if (f.bool("inpaint_full_res", false)) {
                    warnings.add("inpaint_full_res (inpaint only the masked area) is not supported: the whole picture was inpainted");
                }
            } else if (type.equals("inpaint")) {
                throw ApiException.invalid("mask", "inpaint needs a mask");
            }
        }
        return new GenerationParams(img2img ? "img2img" : "txt2img", body, prompt, negative, seed, sampler, steps, cfg,
                width, height, batch, nIter, model, clipSkip, eta, init, mask, maskBlur, strength, resize, send, save,
                taskId, List.copyOf(warnings), presetLoras, deepCache);
    }

    /** A1111's sampler_name (or the older sampler_index), with the separate "scheduler" field folded in. */
    private static String sampler(RequestFields f) {
        String field = f.has("sampler_name") ? "sampler_name" : "sampler_index";
        String name = f.text(field, "Euler", 200);
        if (name.isBlank()) name = "Euler";
        Schedulers.Sampler s;
        try {
            s = Schedulers.find(name);
        } catch (JDiffusionException e) {
            throw ApiException.invalid(field, e.getMessage());
        }
        String scheduler = f.text("scheduler", "automatic", 100).trim().toLowerCase(Locale.ROOT);
        switch (scheduler) {
            case "", "automatic" -> {
                return s.name();
            }
            case "karras" -> {
                String karras = s.name().endsWith(" Karras") ? s.name() : s.name() + " Karras";
                for (Schedulers.Sampler k : Schedulers.samplers()) if (k.name().equals(karras)) return karras;
                throw ApiException.invalid("scheduler", "the Karras schedule is available with DPM++ 2M only, not " + s.name());
            }
            default -> throw ApiException.invalid("scheduler", "scheduler '" + scheduler
                    + "' is not available; use automatic or karras (GET /sdapi/v1/schedulers)");
        }
    }

    /** Control characters are refused here, not deep in the worker (the library refuses them too). */
    private static void checkText(String field, String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isISOControl(c) && c != '\n' && c != '\t' && c != '\r') {
                throw ApiException.invalid(field, field + " contains the control character U+"
                        + String.format("%04X", (int) c) + " at position " + i);
            }
        }
    }

    private static void checkLoras(String prompt, Path loraDir) {
        ExtraNetworks extra;
        try {
            extra = PromptParser.extractExtraNetworks(prompt);
            for (LoraTag tag : extra.loras()) LoRAFiles.find(loraDir, tag.name());
        } catch (JDiffusionException e) {
            throw ApiException.invalid("prompt", e.getMessage().replace("--lora-dir DIR (GenerationRequest.loraDir)", "--lora-dir DIR to jdiffusion serve"));
        }
    }

    private static boolean isDefaultish(JsonNode n) {
        if (n.isBoolean()) return !n.booleanValue();
        if (n.isContainerNode()) return n.isEmpty();
        if (n.isTextual()) return n.textValue().isEmpty() || n.textValue().equals("Latent") || n.textValue().equals("Use same checkpoint");
        if (n.isNumber()) return n.doubleValue() == 0 || n.doubleValue() == 1 || n.doubleValue() == 1.5 || n.doubleValue() == 2;
        return false;
    }

    /** What the server allows, from {@link ServerOptions}. */
    record Limits(long maxPixels, int maxSteps, int maxBatch, Path loraDir, Path fastLora) {
        static Limits of(ServerOptions o) {
            return new Limits(o.maxPixels(), o.maxSteps(), o.maxBatch(), o.loraDir(), o.fastLora());
        }
    }
}
