package jdiffusion.pipelines;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Predicate;
import jdiffusion.JDiffusionException;
import jdiffusion.lora.LoRASession;
import jdiffusion.models.unet.DeepCache;
import jdiffusion.prompts.LongPromptMode;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.Schedulers;

/**
 * AUTOMATIC1111's infotext (the PNG {@code parameters} text, modules/infotext_utils.py), both ways: what
 * a pipeline writes for a request ({@link #of}) and what a request takes back from it ({@link #applyTo},
 * used by {@code --from}). The text format itself is {@link PngParameters}; the keys live here only.
 */
public final class Infotext {
    private Infotext() {}

    /** What the request does not say but the infotext records; {@code extra} is the pipeline's own keys (e.g. "Noise level"). */
    record Context(String model, Path vae, String sampler, String hiresSampler, int width, int height, int index,
                   List<LoRASession.Used> loras, Map<String, String> extra) {}

    /** The parameters of image {@code c.index()} of a request's batch, in A1111's key order. */
    static PngParameters of(GenerationRequest r, Context c) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("Steps", Integer.toString(r.steps()));
        s.put("Sampler", c.sampler());
        s.put("CFG scale", number(r.guidanceScale()));
        s.put("Seed", Long.toString(r.seed()));
        s.put("Size", c.width() + "x" + c.height());
        s.put("Model", c.model());
        if (c.vae() != null && c.vae().getFileName() != null) s.put("VAE", c.vae().getFileName().toString());
        if (r.clipSkip() > 0) s.put("Clip skip", Integer.toString(r.clipSkip() + 1)); // A1111 counts from 1
        if (r.isImageToImage()) s.put("Denoising strength", number(r.strength()));
        if (r.isInpainting() && r.maskBlur() > 0) s.put("Mask blur", Integer.toString(r.maskBlur()));
        if (r.eta() > 0) s.put("Eta", number(r.eta()));
        if (r.numImages() > 1) {
            s.put("Batch size", Integer.toString(r.numImages()));
            s.put("Batch pos", Integer.toString(c.index()));
        }
        if (r.longPrompts() == LongPromptMode.CHUNK) s.put("Prompt style", "A1111");
        HiresFix h = r.hires();
        if (h != null) {
            // processing.py: Denoising strength, Hires prompt, Hires upscale, Hires steps (when set), Hires upscaler
            s.put("Denoising strength", number(h.denoisingStrength()));
            if (h.prompt() != null && !h.prompt().equals(r.prompt())) s.put("Hires prompt", h.prompt());
            if (h.negativePrompt() != null && !h.negativePrompt().equals(r.negativePrompt())) {
                s.put("Hires negative prompt", h.negativePrompt());
            }
            s.put("Hires upscale", number(h.scale()));
            if (h.steps() > 0) s.put("Hires steps", Integer.toString(h.steps()));
            s.put("Hires upscaler", h.upscaler().a1111Name());
            if (c.hiresSampler() != null && !c.hiresSampler().equals(c.sampler())) s.put("Hires sampler", c.hiresSampler());
        }
        if (!c.loras().isEmpty()) {
            // A1111's extra_networks_lora: "name: shorthash, ..." with ':' and ',' taken out of names
            List<String> hashes = new ArrayList<>();
            for (LoRASession.Used l : c.loras()) {
                hashes.add(l.spec().displayName().replace(":", "").replace(",", "") + ": " + l.hash());
            }
            s.put("Lora hashes", String.join(", ", hashes));
        }
        if (r.deepCache() > 0) s.put("DeepCache", Integer.toString(r.deepCache()));
        s.putAll(c.extra());
        s.put("Generator", "jdiffusion (diffusers-compatible seed)");
        return new PngParameters(r.prompt(), r.negativePrompt(), s);
    }

    /**
     * Sets on {@code b} every value {@code p} records, except those of the CLI options {@code given}
     * says the user typed (they win). The prompt is taken only when the builder has none.
     */
    public static void applyTo(PngParameters p, GenerationRequest.Builder b, Predicate<String> given) {
        if (b.prompt() == null) b.prompt(p.prompt());
        if (!given.test("--negative-prompt")) b.negativePrompt(p.negativePrompt());
        if (has(p, "Steps", "--steps", given)) b.steps((int) integer(p, "Steps"));
        if (has(p, "CFG scale", "--guidance-scale", given)) b.guidanceScale(decimal(p, "CFG scale"));
        if (has(p, "Sampler", "--sampler", given)) b.sampler(p.get("Sampler"));
        if (has(p, "Batch size", "--num-images", given)) b.numImages((int) integer(p, "Batch size"));
        if (has(p, "Eta", "--eta", given)) b.eta(decimal(p, "Eta"));
        if (has(p, "Clip skip", "--clip-skip", given)) b.clipSkip((int) integer(p, "Clip skip") - 1);
        if (has(p, "Seed", "--seed", given)) b.seed(integer(p, "Seed"));
        if (has(p, "DeepCache", "--deepcache", given)) {
            long interval = integer(p, "DeepCache");
            if (interval < 0 || interval > DeepCache.MAX_INTERVAL) throw unreadable("DeepCache", p.get("DeepCache"));
            b.deepCache((int) interval);
        }
        if (p.get("Size") != null && !given.test("--width") && !given.test("--height")) {
            String[] wh = p.get("Size").split("x");
            if (wh.length != 2) throw unreadable("Size", p.get("Size"));
            b.size((int) parse("Size", wh[0]), (int) parse("Size", wh[1]));
        }
        if (b.initImage() != null) {
            if (has(p, "Denoising strength", "--strength", given)) b.strength(decimal(p, "Denoising strength"));
        } else if (p.get("Hires upscale") != null && !given.test("--hires-scale")) {
            HiresFix h = b.hires();
            double strength = has(p, "Denoising strength", "--denoising-strength", given) ? decimal(p, "Denoising strength")
                    : h != null ? h.denoisingStrength() : HiresFix.DEFAULT_DENOISING_STRENGTH;
            b.hires(new HiresFix(decimal(p, "Hires upscale"),
                    has(p, "Hires upscaler", "--hires-upscaler", given) ? HiresUpscaler.of(p.get("Hires upscaler"))
                            : h != null ? h.upscaler() : HiresUpscaler.LATENT,
                    has(p, "Hires steps", "--hires-steps", given) ? (int) integer(p, "Hires steps") : h != null ? h.steps() : 0,
                    strength,
                    has(p, "Hires sampler", "--hires-sampler", given) ? p.get("Hires sampler") : h != null ? h.sampler() : null,
                    has(p, "Hires prompt", "--hires-prompt", given) ? p.get("Hires prompt") : h != null ? h.prompt() : null,
                    p.get("Hires negative prompt") != null ? p.get("Hires negative prompt") : h != null ? h.negativePrompt() : null));
        }
    }

    private static boolean has(PngParameters p, String key, String option, Predicate<String> given) {
        return p.get(key) != null && !given.test(option);
    }

    private static long integer(PngParameters p, String key) {
        return parse(key, p.get(key));
    }

    private static long parse(String key, String v) {
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw unreadable(key, v);
        }
    }

    private static double decimal(PngParameters p, String key) {
        try {
            return Double.parseDouble(p.get(key).trim());
        } catch (NumberFormatException e) {
            throw unreadable(key, p.get(key));
        }
    }

    private static JDiffusionException unreadable(String key, String v) {
        return new JDiffusionException("the image's parameters have an unreadable " + key + ": " + v);
    }

    /** The AUTOMATIC1111 name of a scheduler, or its diffusers class name when A1111 has none. */
    static String samplerName(Scheduler s) {
        boolean karras = s.config().useKarrasSigmas();
        for (Schedulers.Sampler sampler : Schedulers.samplers()) {
            boolean wantsKarras = Boolean.TRUE.equals(sampler.options().get("use_karras_sigmas"));
            if (sampler.kind() == s.kind() && wantsKarras == karras) return sampler.name();
        }
        return s.kind().className();
    }

    /** Python's str() of a float as A1111 writes it: 7.0, 0.75. */
    static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? String.format(Locale.ROOT, "%.1f", v)
                : String.format(Locale.ROOT, "%s", v);
    }
}
