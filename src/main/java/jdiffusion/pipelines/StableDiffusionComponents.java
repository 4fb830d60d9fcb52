package jdiffusion.pipelines;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.lora.LoRASession;
import jdiffusion.lora.LoRASpec;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.models.vae.AutoencoderTiny;
import jdiffusion.models.vae.ExternalVAE;
import jdiffusion.prompts.ExtraNetworks;
import jdiffusion.prompts.LoraTag;
import jdiffusion.prompts.LongPromptMode;
import jdiffusion.prompts.PromptEmbeds;
import jdiffusion.prompts.PromptEmbedsPair;
import jdiffusion.prompts.PromptEncoder;
import jdiffusion.prompts.PromptOptions;
import jdiffusion.prompts.PromptParser;
import jdiffusion.prompts.TextualInversion;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.NativeMemory;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * What every Stable Diffusion pipeline is made of (diffusers' {@code tokenizer}, {@code text_encoder},
 * {@code unet}, {@code vae}, {@code scheduler}) and what they all do with it: text conditioning, the
 * LoRA session, the scheduler a request names, VAE encode/decode. Loaded once and shareable (unless
 * made {@link #oneRequest one-request}, which frees each model once its request is past it);
 * the pipelines ({@link StableDiffusionPipeline}, {@link StableDiffusionDepth2ImgPipeline},
 * {@link StableDiffusionUpscalePipeline}) add their mode on top.
 */
public final class StableDiffusionComponents implements AutoCloseable {
    private final String name;
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    /** TAESD decoding instead of the VAE's ({@code --vae TAESD_FOLDER}), or null; the VAE still encodes. */
    private final AutoencoderTiny tinyDecoder;
    private final SchedulerConfigFile schedulerConfig;
    private final PipelineOptions options;
    private final PromptEncoder promptEncoder;
    private final LoRASession loras;
    /** Set by {@link #oneRequest}; then the models below are released once the request is past them. */
    private volatile boolean oneRequest;
    /** The models released so far, by the name errors give them ({@link #TEXT_ENCODER}, {@link #UNET}). */
    private final Set<String> released = ConcurrentHashMap.newKeySet();
    private static final String TEXT_ENCODER = "text encoder";
    private static final String UNET = "UNet";

    public StableDiffusionComponents(String name, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                                     UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfigFile schedulerConfig,
                                     PipelineOptions options) {
        this(name, tokenizer, textEncoder, unet, vae, null, schedulerConfig, options);
    }

    /**
     * As above, decoding with {@code tinyDecoder} (TAESD, {@link AutoencoderTiny}) when it is not null;
     * it must work on the VAE's latents at the VAE's scale. The components close it.
     */
    public StableDiffusionComponents(String name, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                                     UNet2DConditionModel unet, AutoencoderKL vae, AutoencoderTiny tinyDecoder,
                                     SchedulerConfigFile schedulerConfig, PipelineOptions options) {
        int factor = 1 << (vae.config().blockOutChannels().size() - 1);
        if (tinyDecoder != null && (tinyDecoder.config().upscaleFactor() != factor
                || tinyDecoder.config().latentChannels() != vae.config().latentChannels())) {
            throw new JDiffusionException("the TAESD decoder turns " + tinyDecoder.config().latentChannels() + "-channel latents"
                    + " into images " + tinyDecoder.config().upscaleFactor() + "x larger, but " + name + "'s VAE works on "
                    + vae.config().latentChannels() + " channels at " + factor + "x: it belongs to another model family");
        }
        this.tinyDecoder = tinyDecoder;
        this.name = name;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.schedulerConfig = schedulerConfig;
        this.options = options;
        PromptEncoder encoder = new PromptEncoder(tokenizer, textEncoder);
        this.promptEncoder = options.embeddings().isEmpty() ? encoder
                : encoder.withTextualInversions(options.embeddings().stream().map(TextualInversion::load).toList());
        this.loras = new LoRASession(unet, textEncoder);
        if (unet.config().crossAttentionDim().getFirst() != textEncoder.config().hiddenSize()) {
            throw new JDiffusionException(name + ": the UNet expects text states of width "
                    + unet.config().crossAttentionDim().getFirst() + " but the text encoder gives "
                    + textEncoder.config().hiddenSize() + "; the components belong to different models");
        }
    }

    /** A diffusers folder's components, with {@code options.vae()} (when set) in place of its VAE. */
    public static StableDiffusionComponents load(ModelFolder folder, String name, PipelineOptions options) {
        CLIPTokenizer tokenizer = CLIPTokenizer.load(folder.component("tokenizer"));
        CLIPTextModel textEncoder = CLIPTextModel.load(folder.component("text_encoder"), options.variant(),
                options.dtype(), options.device());
        // a TAESD folder replaces the decoder only: the model's VAE still encodes (img2img, inpainting)
        AutoencoderTiny tiny = AutoencoderTiny.isTinyFolder(options.vae())
                ? AutoencoderTiny.load(options.vae(), options.dtype(), options.device()) : null;
        AutoencoderKL vae = options.vae() == null || tiny != null
                ? AutoencoderKL.load(folder.component("vae"), options.variant(), options.dtype(), options.device())
                : ExternalVAE.load(options.vae(), AutoencoderKLConfig.fromJson(folder.component("vae").resolve("config.json")),
                        options.variant(), options.dtype(), options.device());
        // the UNet last: the VAE is built whole in float32 before its conversion (0.33 GB for SD's),
        // and that transient then stacks on 0.5 GB of models instead of 2.2 GB
        UNet2DConditionModel unet = UNet2DConditionModel.load(folder.component("unet"), options.variant(),
                options.dtype(), options.device());
        SchedulerConfigFile scheduler = SchedulerConfigFile.read(folder.component("scheduler").resolve("scheduler_config.json"));
        return new StableDiffusionComponents(name, tokenizer, textEncoder, unet, vae, tiny, scheduler, options)
                .restoringLoRAsFrom(folder, options.variant());
    }

    /** LoRA restores read {@code folder}'s UNet and text encoder files again instead of holding copies ({@link LoRASession#restoreFrom}). */
    StableDiffusionComponents restoringLoRAsFrom(ModelFolder folder, String variant) {
        loras.restoreFrom(UNet2DConditionModel.weightSource(folder.component("unet"), variant),
                CLIPTextModel.weightSource(folder.component("text_encoder"), variant));
        return this;
    }

    /** The name the PNG parameters give a model: the folder's, or the repo id for a Hub snapshot. */
    static String displayName(String model, ModelFolder folder) {
        Path root = folder.root();
        String name = root.getFileName() == null ? model : root.getFileName().toString();
        if (root.getParent() != null && root.getParent().getFileName() != null
                && root.getParent().getFileName().toString().equals("snapshots")) {
            name = model; // a Hub snapshot folder is named by its commit; the repo id says more
        }
        return name;
    }

    static boolean isFile(String model) {
        return Files.isRegularFile(Path.of(model));
    }

    public String name() { return name; }
    public CLIPTokenizer tokenizer() { return tokenizer; }
    public CLIPTextModel textEncoder() { requireLive(TEXT_ENCODER); return textEncoder; }
    public UNet2DConditionModel unet() { requireLive(UNET); return unet; }
    public AutoencoderKL vae() { return vae; }
    /** The TAESD decoder in use instead of the VAE's, or null. */
    public AutoencoderTiny tinyDecoder() { return tinyDecoder; }
    public SchedulerConfigFile schedulerConfig() { return schedulerConfig; }
    public PipelineOptions options() { return options; }
    public PromptEncoder promptEncoder() { requireLive(TEXT_ENCODER); return promptEncoder; }
    /** The LoRA session; unusable once a model is released ({@link #oneRequest}). */
    public LoRASession loras() {
        requireLive(TEXT_ENCODER); // its merges would reach released weights
        requireLive(UNET);
        return loras;
    }

    /**
     * For a process that runs one request and ends (the command line): LoRAs are merged for good (no
     * saved originals, {@link LoRASession#keepOriginals}) and each model is released once the request
     * is past it, as stable-diffusion.cpp's command line frees its parameters: the text encoder when the
     * prompts are encoded (0.25 GB for SD 1.5 in bf16), the UNet before the final decode (1.7 GB).
     * Lower peak memory for the same image; a second request fails in one line.
     */
    public void oneRequest() {
        loras.keepOriginals(false);
        oneRequest = true;
    }

    /**
     * Step "text done" of every pipeline, once every prompt of the request is encoded (hires fix's
     * too): in a {@link #oneRequest} process the text encoder is released.
     */
    void textEncodingDone() {
        if (oneRequest) releaseTextEncoder();
    }

    /**
     * Frees the text encoder's weights now, for code that runs the steps itself and is done with the
     * text (the {@link #oneRequest} pipelines call it once the prompts are encoded). Any later use of
     * the text encoder, or a request, fails in one line. Not for a model shared between requests or
     * threads: work already running on it is not waited for.
     */
    public void releaseTextEncoder() {
        release(TEXT_ENCODER, textEncoder);
    }

    /**
     * Frees the UNet's weights now, for code that runs the steps itself and has denoised for the last
     * time (the {@link #oneRequest} pipelines call it before the final decode). As {@link #releaseTextEncoder}.
     */
    public void releaseUNet() {
        release(UNET, unet);
    }

    /** Closes {@code model} once (the first caller; later calls do nothing) and hands its memory back. */
    private void release(String what, Module model) {
        if (!released.add(what)) return;
        model.close();
        NativeMemory.trim();
    }

    private void requireLive(String what) {
        if (released.contains(what)) {
            throw new JDiffusionException("the " + what + " was released once its request was past it (one request per "
                    + "process: oneRequest(), or released by hand); load the model again for another");
        }
    }

    VAEImageCodec codec() {
        return new VAEImageCodec(vae, tinyDecoder);
    }

    /** Pixels per latent pixel: 2^(number of VAE blocks - 1), 8 for Stable Diffusion. */
    public int vaeScaleFactor() {
        return codec().scaleFactor();
    }

    /**
     * The scheduler a request asks for: its name through diffusers' {@code from_config} on the
     * model's scheduler_config.json (only the keys in the file carry over), or the file's own class.
     */
    public Scheduler scheduler(String sampler, double eta) {
        Scheduler s = sampler == null ? Schedulers.fromConfig(schedulerConfig, Map.of())
                : Schedulers.create(sampler, schedulerConfig, Map.of());
        if (eta > 0) {
            if (!(s instanceof DDIMScheduler ddim)) {
                throw new JDiffusionException("--eta applies to the DDIM sampler only (the sampler is "
                        + s.kind().className() + ")");
            }
            s = ddim.withEta(eta);
        }
        return s;
    }

    /** A request's prompt without its extra-network tags, and the LoRAs it asks for (the request's, then the tags'). */
    record Networks(String prompt, List<LoRASpec> loras) {}

    static Networks networks(GenerationRequest request, List<String> warnings) {
        ExtraNetworks extra = PromptParser.extractExtraNetworks(request.prompt());
        if (!extra.otherTags().isEmpty()) warnings.add("extra-network tags other than <lora:...> are ignored: " + extra.otherTags());
        List<LoRASpec> specs = new ArrayList<>(request.loras());
        for (LoraTag tag : extra.loras()) {
            specs.add(new LoRASpec(null, tag.name(), tag.unetMultiplier(), tag.teMultiplier()));
        }
        return new Networks(extra.prompt(), specs);
    }

    /** One call on the weights as merged: the prompt without its extra-network tags, the LoRAs used, the warnings so far. */
    record Call(String prompt, List<LoRASession.Used> loras, List<String> warnings) {}

    /**
     * Step 1 of every pipeline: the request's LoRAs, then the prompt's {@code <lora:...>} tags, merged
     * into the weights for the length of {@code work} (read and checked before any lock).
     */
    <T> T withLoRAs(GenerationRequest r, java.util.function.Function<Call, T> work) {
        requireLive(TEXT_ENCODER); // before a merge could reach released weights
        requireLive(UNET);
        List<String> warnings = new ArrayList<>();
        Networks n = networks(r, warnings);
        return loras.run(n.loras(), r.loraDir(), used -> work.apply(new Call(n.prompt(), used, warnings)));
    }

    /**
     * The text-encoder states the UNet attends to, each repeated for the batch: {@code [neg x B, pos x B]}
     * when guidance is on (diffusers' order), else the prompt's alone. {@code prompt} is without its
     * extra-network tags.
     */
    Tensor encodePrompts(GenerationRequest r, String prompt, String negativePrompt, List<String> warnings) {
        PromptOptions options = (r.longPrompts() == LongPromptMode.CHUNK ? PromptOptions.A1111 : PromptOptions.DIFFUSERS)
                .withClipSkip(r.clipSkip());
        PromptEmbeds encoded;
        Tensor states;
        if (r.usesGuidance()) {
            PromptEmbedsPair pair = promptEncoder.encodePair(prompt, negativePrompt, options);
            encoded = pair.prompt();
            states = pair.guidanceBatch();
        } else {
            encoded = promptEncoder.encode(prompt, options);
            states = encoded.embeds();
        }
        if (encoded.truncated()) warnings.add(encoded.truncationWarning());
        if (encoded.chunks() > 1) {
            warnings.add("the prompt (" + encoded.tokenCount() + " tokens) was encoded in " + encoded.chunks()
                    + " chunks of 75 tokens, AUTOMATIC1111 style");
        }
        long[] ps = {states.size(0), states.size(1), states.size(2)};
        int batch = r.numImages();
        return states.unsqueeze(1).expand(ps[0], batch, ps[1], ps[2]).reshape(ps[0] * batch, ps[1], ps[2]);
    }

    /**
     * Step "decode" of every pipeline, the final latents to 8-bit images: after the UNet is released (in a
     * {@link #oneRequest} process: no denoising follows) and the loop's freed memory handed back (the
     * decoder's peak comes on top of what is resident), and trimmed between the decoder's stages (SD at
     * 512x512: one decode, whose stages free 64-128 MB tensors each).
     */
    List<java.awt.image.BufferedImage> decode(Tensor latents, VAETiling tiling) {
        if (oneRequest) releaseUNet();
        NativeMemory.trim();
        return List.of(jdiffusion.image.Images.fromTensor(NativeMemory.trimmingBetweenBlocks(() -> codec().decode(latents, tiling))));
    }

    /** The infotext of every image of a request's batch. */
    List<PngParameters> parameters(GenerationRequest r, Scheduler scheduler, String hiresSampler, int width, int height,
                                   List<LoRASession.Used> loras, Map<String, String> extra) {
        List<PngParameters> out = new ArrayList<>();
        for (int i = 0; i < r.numImages(); i++) {
            out.add(Infotext.of(r, new Infotext.Context(name, options.vae(), Infotext.samplerName(scheduler), hiresSampler,
                    width, height, i, loras, extra)));
        }
        return out;
    }

    /** Closes the models' native memory. */
    @Override
    public void close() {
        try {
            loras.restoreBase(); // a kept LoRA set holds its saved originals (or open files) until restored
        } finally {
            if (!released.contains(TEXT_ENCODER)) textEncoder.close();
            if (!released.contains(UNET)) unet.close();
            vae.close();
            if (tinyDecoder != null) tinyDecoder.close();
            NativeMemory.trim();
        }
    }
}
