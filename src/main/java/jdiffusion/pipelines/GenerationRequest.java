package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images.ResizeMode;
import jdiffusion.lora.LoRASpec;
import jdiffusion.models.unet.DeepCache;
import jdiffusion.prompts.LongPromptMode;

/**
 * One generation: text-to-image, or image-to-image when {@code initImage} is set, or inpainting
 * when {@code mask} is set too. Validated on construction; the messages name the option.
 *
 * <pre>{@code
 * GenerationRequest r = GenerationRequest.builder("a red circle on a blue background")
 *         .negativePrompt("blurry").steps(30).guidanceScale(7.5).seed(42).build();
 * }</pre>
 *
 * @param sampler        a diffusers class or A1111 sampler name; null keeps the model's scheduler
 * @param width          pixels, a multiple of 8; 0 = the model's default size
 * @param height         pixels, a multiple of 8; 0 = the model's default size
 * @param clipSkip       diffusers' count: 1 = the penultimate text-encoder layer (A1111 "Clip skip 2")
 * @param longPrompts    TRUNCATE: diffusers' text conditioning exactly (cut at 77 tokens, with a
 *                       warning; brackets are plain text); CHUNK: AUTOMATIC1111's (75-token chunks,
 *                       {@code (word:1.3)} emphasis, BREAK, clip skip on both prompts)
 * @param strength       img2img/inpaint: how much of the schedule is run (1 = all of it)
 * @param maskBlur       inpaint: Gaussian blur radius of the mask, in pixels
 * @param keepUnmasked   inpaint: paste the input's pixels back outside the (blurred) mask, as
 *                       AUTOMATIC1111 does; off by default, which gives diffusers' image exactly
 * @param loras          LoRAs merged into the models for this request only, besides the
 *                       {@code <lora:NAME:0.8>} tags in the prompt (applied after these, in prompt order)
 * @param loraDir        where {@code <lora:NAME>} tags and named {@link LoRASpec}s are looked up
 *                       ({@code NAME.safetensors}, also in subfolders); null when none is set
 * @param vaeTiling      decode (and, for img2img, encode) in overlapping tiles: AUTO does so above
 *                       a size where the untiled VAE needs gigabytes (see {@link VAETiling})
 * @param hires          txt2img only: AUTOMATIC1111's hires fix (a second, img2img pass at a larger
 *                       size), or null
 * @param deepCache      DeepCache's interval N: one full UNet call every N steps and the UNet's
 *                       shallow path in between (faster, slightly different images; see
 *                       {@link DeepCache}); 0 = off, the exact path
 */
public record GenerationRequest(
        String prompt,
        String negativePrompt,
        double guidanceScale,
        int steps,
        String sampler,
        int width,
        int height,
        long seed,
        int numImages,
        double eta,
        int clipSkip,
        LongPromptMode longPrompts,
        BufferedImage initImage,
        double strength,
        ResizeMode resizeMode,
        BufferedImage mask,
        int maskBlur,
        boolean keepUnmasked,
        List<LoRASpec> loras,
        Path loraDir,
        VAETiling vaeTiling,
        HiresFix hires,
        int deepCache) {

    public static final int MAX_STEPS = 1000;
    public static final int MAX_SIDE = 8192;
    public static final int MAX_IMAGES = 64;
    /** diffusers' StableDiffusionPipeline defaults, declared once: the builder and the CLI use them. */
    public static final int DEFAULT_STEPS = 50;
    public static final double DEFAULT_GUIDANCE_SCALE = 7.5;
    public static final double DEFAULT_STRENGTH = 0.8;

    public GenerationRequest {
        prompt = prompt == null ? "" : prompt;
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        checkText("--prompt", prompt);
        checkText("--negative-prompt", negativePrompt);
        if (!Double.isFinite(guidanceScale) || guidanceScale < 0) {
            throw new JDiffusionException("--guidance-scale must be a finite number >= 0, not " + guidanceScale);
        }
        if (steps < 1 || steps > MAX_STEPS) {
            throw new JDiffusionException("--steps must be between 1 and " + MAX_STEPS + ", not " + steps);
        }
        checkSide("--width", width);
        checkSide("--height", height);
        if (numImages < 1 || numImages > MAX_IMAGES) {
            throw new JDiffusionException("--num-images must be between 1 and " + MAX_IMAGES + ", not " + numImages);
        }
        if (!Double.isFinite(eta) || eta < 0 || eta > 1) {
            throw new JDiffusionException("--eta must be between 0 and 1, not " + eta);
        }
        if (clipSkip < 0) throw new JDiffusionException("--clip-skip must be >= 0, not " + clipSkip);
        if (longPrompts == null) longPrompts = LongPromptMode.TRUNCATE;
        if (resizeMode == null) resizeMode = ResizeMode.RESIZE;
        if (!Double.isFinite(strength) || strength <= 0 || strength > 1) {
            throw new JDiffusionException("--strength must be in (0, 1], not " + strength);
        }
        if (mask != null && initImage == null) {
            throw new JDiffusionException("--mask needs --init-image: inpainting repaints part of an image");
        }
        if (maskBlur < 0 || maskBlur > 256) throw new JDiffusionException("--mask-blur must be between 0 and 256");
        loras = loras == null ? List.of() : List.copyOf(loras);
        if (vaeTiling == null) vaeTiling = VAETiling.AUTO;
        if (deepCache != 0) DeepCache.check(deepCache);
        if (hires != null) {
            if (initImage != null) {
                throw new JDiffusionException("--hires-scale is a txt2img option (a second pass on the generated image); "
                        + "for an image of your own use img2img at the larger size");
            }
            int w = width == 0 ? 512 : width;
            int h = height == 0 ? 512 : height;
            if (hires.targetSide(w, 8) > MAX_SIDE || hires.targetSide(h, 8) > MAX_SIDE) {
                throw new JDiffusionException("--hires-scale " + hires.scale() + " makes " + hires.targetSide(w, 8) + "x"
                        + hires.targetSide(h, 8) + " from " + w + "x" + h + ", above the size limit of " + MAX_SIDE + " pixels a side");
            }
        }
    }

    private static void checkText(String option, String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isISOControl(c) && c != '\n' && c != '\t' && c != '\r') {
                throw new JDiffusionException(option + " contains the control character U+"
                        + String.format("%04X", (int) c) + " at position " + i + "; remove it");
            }
        }
    }

    private static void checkSide(String option, int v) {
        if (v == 0) return;
        if (v < 8 || v > MAX_SIDE || v % 8 != 0) {
            throw new JDiffusionException(option + " must be a multiple of 8 between 8 and " + MAX_SIDE + ", not " + v);
        }
    }

    /** Classifier-free guidance runs only above 1, as in diffusers ({@code do_classifier_free_guidance}). */
    public boolean usesGuidance() {
        return guidanceScale > 1;
    }

    public boolean isImageToImage() {
        return initImage != null;
    }

    public boolean isInpainting() {
        return mask != null;
    }

    public static Builder builder(String prompt) {
        return new Builder(prompt);
    }

    public Builder toBuilder() {
        Builder b = new Builder(prompt);
        b.negativePrompt = negativePrompt;
        b.guidanceScale = guidanceScale;
        b.steps = steps;
        b.sampler = sampler;
        b.width = width;
        b.height = height;
        b.seed = seed;
        b.numImages = numImages;
        b.eta = eta;
        b.clipSkip = clipSkip;
        b.longPrompts = longPrompts;
        b.initImage = initImage;
        b.strength = strength;
        b.resizeMode = resizeMode;
        b.mask = mask;
        b.maskBlur = maskBlur;
        b.keepUnmasked = keepUnmasked;
        b.loras.addAll(loras);
        b.loraDir = loraDir;
        b.vaeTiling = vaeTiling;
        b.hires = hires;
        b.deepCache = deepCache;
        return b;
    }

    /** Defaults as diffusers' StableDiffusionPipeline: 50 steps, guidance 7.5, the model's size. */
    public static final class Builder {
        private String prompt;
        private String negativePrompt = "";
        private double guidanceScale = DEFAULT_GUIDANCE_SCALE;
        private int steps = DEFAULT_STEPS;
        private String sampler;
        private int width;
        private int height;
        private long seed;
        private int numImages = 1;
        private double eta;
        private int clipSkip;
        private LongPromptMode longPrompts = LongPromptMode.TRUNCATE;
        private BufferedImage initImage;
        private double strength = DEFAULT_STRENGTH;
        private ResizeMode resizeMode = ResizeMode.RESIZE;
        private BufferedImage mask;
        private int maskBlur;
        private boolean keepUnmasked;
        private final List<LoRASpec> loras = new ArrayList<>();
        private Path loraDir;
        private VAETiling vaeTiling = VAETiling.AUTO;
        private HiresFix hires;
        private int deepCache;

        private Builder(String prompt) {
            this.prompt = prompt;
        }

        public Builder negativePrompt(String v) { negativePrompt = v; return this; }
        public Builder guidanceScale(double v) { guidanceScale = v; return this; }
        public Builder steps(int v) { steps = v; return this; }
        public Builder sampler(String v) { sampler = v; return this; }
        public Builder size(int w, int h) { width = w; height = h; return this; }
        public Builder width(int v) { width = v; return this; }
        public Builder height(int v) { height = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder numImages(int v) { numImages = v; return this; }
        public Builder eta(double v) { eta = v; return this; }
        public Builder clipSkip(int v) { clipSkip = v; return this; }
        public Builder longPrompts(LongPromptMode v) { longPrompts = v; return this; }
        public Builder initImage(BufferedImage v) { initImage = v; return this; }
        public Builder strength(double v) { strength = v; return this; }
        public Builder resizeMode(ResizeMode v) { resizeMode = v; return this; }
        public Builder mask(BufferedImage v) { mask = v; return this; }
        public Builder maskBlur(int v) { maskBlur = v; return this; }
        public Builder keepUnmasked(boolean v) { keepUnmasked = v; return this; }
        /** Adds one LoRA (call again for more; they add up). */
        public Builder lora(LoRASpec v) { loras.add(v); return this; }
        public Builder loras(List<LoRASpec> v) { loras.clear(); loras.addAll(v); return this; }
        public Builder loraDir(Path v) { loraDir = v; return this; }
        public Builder vaeTiling(VAETiling v) { vaeTiling = v; return this; }
        /** AUTOMATIC1111's hires fix for this txt2img request; null turns it off. */
        public Builder hires(HiresFix v) { hires = v; return this; }
        /** DeepCache's interval (3 is the authors' choice for SD 1.5); 0 turns it off. */
        public Builder deepCache(int v) { deepCache = v; return this; }
        public Builder prompt(String v) { prompt = v; return this; }

        /** The prompt set so far (null when none). */
        public String prompt() { return prompt; }
        public BufferedImage initImage() { return initImage; }
        public HiresFix hires() { return hires; }

        public GenerationRequest build() {
            return new GenerationRequest(prompt, negativePrompt, guidanceScale, steps, sampler, width, height, seed,
                    numImages, eta, clipSkip, longPrompts, initImage, strength, resizeMode, mask, maskBlur, keepUnmasked,
                    loras, loraDir, vaeTiling, hires, deepCache);
        }
    }
}
