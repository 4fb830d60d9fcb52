package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Supplier;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.io.ModelFolder;
import jdiffusion.lora.LoRAFiles;
import jdiffusion.lora.LoRAMerge;
import jdiffusion.lora.LoRASpec;
import jdiffusion.lora.LoRAWeights;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.models.vae.AutoencoderTiny;
import jdiffusion.models.vae.DiagonalGaussianDistribution;
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
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.weights.LoRAKeyMap;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.WeightLoader;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers' StableDiffusionPipeline, StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline
 * (9-channel UNet) and StableDiffusionInpaintPipelineLegacy (4-channel UNet) behind one
 * {@link #generate} call: the same seed gives diffusers' initial latents and, in fp32, its image.
 *
 * <p>Loaded once and shareable between threads: every call gets its own scheduler run and
 * generator. The components are public so that a sampling loop can be written by hand.
 *
 * <p><b>LoRAs</b> (the request's, and {@code <lora:NAME:0.8>} tags in the prompt) are merged into
 * the UNet and text-encoder weights for the length of one call and the exact originals are copied
 * back afterwards ({@link LoRAMerge}). The weights are shared, so a call with LoRAs holds this
 * pipeline's write lock from the merge to the restore, while calls without LoRAs share its read
 * lock: plain requests still run in parallel, and no request ever sees another's LoRAs. A call with
 * LoRAs therefore waits for the running ones and runs alone. (Per-request adapters computed beside
 * the weights, {@code x W^T + s (x A^T) B^T}, would let LoRA requests run concurrently at some cost
 * per step; a possible later improvement.) Code that drives {@link #unet()} by hand while other
 * threads generate with LoRAs should do so inside {@link #withLoRAs} or hold no expectations.
 *
 * <pre>{@code
 * try (var pipe = StableDiffusionPipeline.load("stable-diffusion-v1-5/stable-diffusion-v1-5", PipelineOptions.defaults())) {
 *     GenerationResult r = pipe.generate(GenerationRequest.builder("a red circle").seed(42).build());
 * }
 * }</pre>
 */
public final class StableDiffusionPipeline implements AutoCloseable {
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
    /** Where LoRA entries may land: the models' weight names, shapes and their kohya spellings. */
    private final LoRAKeyMap.Index loraIndex;
    private final Map<Component, Map<String, long[]>> loraShapes;
    /** Read: a call on the base weights. Write: a call that merges LoRAs into them. Fair, so LoRA calls are not starved. */
    private final ReentrantReadWriteLock weightsLock = new ReentrantReadWriteLock(true);

    /** Builds a pipeline from components that are already loaded (e.g. a UNet swapped in). */
    public StableDiffusionPipeline(String name, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                                   UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfigFile schedulerConfig,
                                   PipelineOptions options) {
        this(name, tokenizer, textEncoder, unet, vae, null, schedulerConfig, options);
    }

    /**
     * As above, decoding with {@code tinyDecoder} (TAESD, {@link AutoencoderTiny}) when it is not null;
     * it must upscale latents by the VAE's factor. The pipeline closes it.
     */
    public StableDiffusionPipeline(String name, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                                   UNet2DConditionModel unet, AutoencoderKL vae, AutoencoderTiny tinyDecoder,
                                   SchedulerConfigFile schedulerConfig, PipelineOptions options) {
        if (tinyDecoder != null && (tinyDecoder.config().upscaleFactor() != 1 << (vae.config().blockOutChannels().size() - 1)
                || tinyDecoder.config().latentChannels() != vae.config().latentChannels())) {
            throw new JDiffusionException("the TAESD decoder turns " + tinyDecoder.config().latentChannels() + "-channel latents"
                    + " into images " + tinyDecoder.config().upscaleFactor() + "x larger, but " + name + "'s VAE works on "
                    + vae.config().latentChannels() + " channels at " + (1 << (vae.config().blockOutChannels().size() - 1))
                    + "x: it belongs to another model family");
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
        try (PointerScope scope = new PointerScope()) {
            Map<String, long[]> unetShapes = shapes(WeightLoader.namedTensors(unet));
            Map<String, long[]> textShapes = shapes(WeightLoader.namedTensors(textEncoder));
            this.loraShapes = Map.of(Component.UNET, unetShapes, Component.TEXT_ENCODER, textShapes);
            this.loraIndex = new LoRAKeyMap.Index(unetShapes.keySet(), textShapes.keySet());
        }
        if (unet.config().crossAttentionDim().getFirst() != textEncoder.config().hiddenSize()) {
            throw new JDiffusionException(name + ": the UNet expects text states of width "
                    + unet.config().crossAttentionDim().getFirst() + " but the text encoder gives "
                    + textEncoder.config().hiddenSize() + "; the components belong to different models");
        }
    }

    private static Map<String, long[]> shapes(Map<String, Tensor> tensors) {
        Map<String, long[]> out = new LinkedHashMap<>();
        tensors.forEach((k, v) -> out.put(k, Tensors.shape(v)));
        return Map.copyOf(out);
    }

    /**
     * A diffusers folder or a Hub repo id from the local cache, with {@code options.vae()} (when
     * set) in place of the model's VAE. Build outside any PointerScope.
     */
    public static StableDiffusionPipeline load(String model, PipelineOptions options) {
        return load(model, null, options);
    }

    /**
     * As {@link #load(String, PipelineOptions)}, where {@code model} may also be a single-file
     * checkpoint ({@code .safetensors} or {@code .ckpt} in the CompVis/A1111 layout); such a file
     * holds no tokenizer, so {@code tokenizerDir} names a CLIP tokenizer folder (ignored for folders).
     */
    public static StableDiffusionPipeline load(String model, Path tokenizerDir, PipelineOptions options) {
        Path asFile = Path.of(model);
        if (java.nio.file.Files.isRegularFile(asFile)) {
            return SingleFilePipelineLoader.load(asFile, tokenizerDir, options);
        }
        ModelFolder folder = ModelFolder.resolve(model);
        Path root = folder.root();
        String name = root.getFileName() == null ? model : root.getFileName().toString();
        if (root.getParent() != null && root.getParent().getFileName() != null
                && root.getParent().getFileName().toString().equals("snapshots")) {
            name = model; // a Hub snapshot folder is named by its commit; the repo id says more
        }
        CLIPTokenizer tokenizer = CLIPTokenizer.load(folder.component("tokenizer"));
        CLIPTextModel textEncoder = CLIPTextModel.load(folder.component("text_encoder"), options.variant(),
                options.dtype(), options.device());
        UNet2DConditionModel unet = UNet2DConditionModel.load(folder.component("unet"), options.variant(),
                options.dtype(), options.device());
        // a TAESD folder replaces the decoder only: the model's VAE still encodes (img2img, inpainting)
        AutoencoderTiny tiny = AutoencoderTiny.isTinyFolder(options.vae())
                ? AutoencoderTiny.load(options.vae(), options.dtype(), options.device()) : null;
        AutoencoderKL vae = options.vae() == null || tiny != null
                ? AutoencoderKL.load(folder.component("vae"), options.variant(), options.dtype(), options.device())
                : ExternalVAE.load(options.vae(), AutoencoderKLConfig.fromJson(folder.component("vae").resolve("config.json")),
                        options.variant(), options.dtype(), options.device());
        SchedulerConfigFile scheduler = SchedulerConfigFile.read(folder.component("scheduler").resolve("scheduler_config.json"));
        return new StableDiffusionPipeline(name, tokenizer, textEncoder, unet, vae, tiny, scheduler, options);
    }

    public String name() { return name; }
    public CLIPTokenizer tokenizer() { return tokenizer; }
    public CLIPTextModel textEncoder() { return textEncoder; }
    public UNet2DConditionModel unet() { return unet; }
    public AutoencoderKL vae() { return vae; }
    /** The TAESD decoder in use instead of the VAE's, or null. */
    public AutoencoderTiny tinyDecoder() { return tinyDecoder; }
    public SchedulerConfigFile schedulerConfig() { return schedulerConfig; }
    public PipelineOptions options() { return options; }
    public PromptEncoder promptEncoder() { return promptEncoder; }

    /** Pixels per latent pixel: 2^(number of VAE blocks - 1), 8 for Stable Diffusion. */
    public int vaeScaleFactor() {
        return 1 << (vae.config().blockOutChannels().size() - 1);
    }

    /** The model's native size in pixels (diffusers: unet.sample_size * vae_scale_factor). */
    public int defaultSize() {
        Integer s = unet.config().sampleSize();
        return (s == null ? 64 : s) * vaeScaleFactor();
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

    public GenerationResult generate(GenerationRequest request) {
        return generate(request, StepCallback.NONE);
    }

    /** Runs one request: text-to-image, image-to-image, or inpainting (see {@link GenerationRequest}). */
    public GenerationResult generate(GenerationRequest request, StepCallback callback) {
        // 0. size, scheduler and inputs are checked before any work
        int width = request.width() != 0 ? request.width() : defaultWidth(request);
        int height = request.height() != 0 ? request.height() : defaultHeight(request);
        int f = vaeScaleFactor();
        if (width % f != 0 || height % f != 0) {
            throw new JDiffusionException("width and height must be multiples of " + f + " for this model, not "
                    + width + "x" + height);
        }
        Scheduler scheduler = scheduler(request.sampler(), request.eta());
        boolean ninechannel = unet.config().inChannels() == 9;
        if (request.isInpainting() != ninechannel && ninechannel) {
            throw new JDiffusionException(name + " has an inpainting UNet (9 input channels): use inpaint with --mask");
        }
        if (unet.config().inChannels() != 4 && unet.config().inChannels() != 9) {
            throw new JDiffusionException(name + " has a UNet with " + unet.config().inChannels()
                    + " input channels (a depth model?); txt2img, img2img and inpaint need 4 or 9");
        }
        List<String> warnings = new ArrayList<>();

        // 1. LoRAs: the request's, then the prompt's tags (taken out of the text), read before any lock
        ExtraNetworks extra = PromptParser.extractExtraNetworks(request.prompt());
        if (!extra.otherTags().isEmpty()) warnings.add("extra-network tags other than <lora:...> are ignored: " + extra.otherTags());
        List<LoRASpec> specs = new ArrayList<>(request.loras());
        for (LoraTag tag : extra.loras()) {
            specs.add(new LoRASpec(null, tag.name(), tag.unetMultiplier(), tag.teMultiplier()));
        }
        List<ActiveLoRA> loras = readLoRAs(specs, request.loraDir());
        try {
            if (loras.isEmpty()) {
                return locked(weightsLock.readLock(), () -> run(request, extra.prompt(), callback, width, height, scheduler,
                        warnings, loras));
            }
            return locked(weightsLock.writeLock(), () -> {
                try (LoRAMerge merged = merge(loras)) {
                    return run(request, extra.prompt(), callback, width, height, scheduler, warnings, loras);
                }
            });
        } finally {
            loras.forEach(l -> l.weights().close());
        }
    }

    /**
     * Runs {@code work} with {@code loras} merged into the UNet and text encoder, holding the
     * write lock: for sampling loops written by hand against {@link #unet()} and
     * {@link #promptEncoder()}. {@link #generate} may be called inside; its own LoRAs add on top.
     * Named LoRAs are looked up in {@code loraDir}.
     */
    public <T> T withLoRAs(List<LoRASpec> loras, Path loraDir, Supplier<T> work) {
        List<ActiveLoRA> active = readLoRAs(loras, loraDir);
        try {
            return locked(weightsLock.writeLock(), () -> {
                try (LoRAMerge merged = merge(active)) {
                    return work.get();
                }
            });
        } finally {
            active.forEach(l -> l.weights().close());
        }
    }

    /**
     * Reads a LoRA file and checks it against this pipeline's UNet and text encoder (every entry
     * must name one of their weights, with a fitting shape). The caller closes it.
     */
    public LoRAWeights readLoRA(Path file) {
        return LoRAWeights.read(file, loraIndex, loraShapes);
    }

    /** A LoRA of this call: what was asked, the file it resolved to, its weights and its A1111 hash. */
    private record ActiveLoRA(LoRASpec spec, LoRAWeights weights, String hash) {}

    private List<ActiveLoRA> readLoRAs(List<LoRASpec> specs, Path loraDir) {
        List<ActiveLoRA> out = new ArrayList<>();
        try {
            for (LoRASpec spec : specs) {
                Path file = spec.file() != null ? spec.file() : LoRAFiles.find(loraDir, spec.name());
                LoRAWeights weights = readLoRA(file);
                String hash;
                try {
                    hash = LoRAFiles.shortHash(file);
                } catch (RuntimeException e) {
                    weights.close();
                    throw e;
                }
                out.add(new ActiveLoRA(spec, weights, hash));
            }
        } catch (RuntimeException e) {
            out.forEach(l -> l.weights().close());
            throw e;
        }
        return out;
    }

    private LoRAMerge merge(List<ActiveLoRA> loras) {
        List<LoRAMerge.Applied> applied = new ArrayList<>();
        for (ActiveLoRA l : loras) {
            applied.add(new LoRAMerge.Applied(l.weights(), l.spec().unetScale(), l.spec().textEncoderScale()));
        }
        // fresh handles on the live parameters, freed with this scope (the merge keeps its own)
        try (PointerScope scope = new PointerScope()) {
            return LoRAMerge.apply(applied, Map.of(Component.UNET, WeightLoader.namedTensors(unet),
                    Component.TEXT_ENCODER, WeightLoader.namedTensors(textEncoder)));
        }
    }

    private static <T> T locked(Lock lock, Supplier<T> work) {
        lock.lock();
        try {
            return work.get();
        } finally {
            lock.unlock();
        }
    }

    /** Steps 2 to 6 of a call, on the weights as they are now (the caller holds the lock). */
    private GenerationResult run(GenerationRequest request, String prompt, StepCallback callback, int width, int height,
                                 Scheduler scheduler, List<String> warnings, List<ActiveLoRA> loras) {
        int f = vaeScaleFactor();
        boolean ninechannel = unet.config().inChannels() == 9;
        int batch = request.numImages();
        long h = height / f;
        long w = width / f;
        long latentChannels = vae.config().latentChannels();
        TorchGenerator generator = new TorchGenerator(request.seed());

        try (PointerScope run = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            // 2. text: [uncond x B, cond x B] when guidance is on, as diffusers concatenates them
            Tensor pair = encodePrompts(request, prompt, warnings); // [2 or 1, 77k, C]
            long[] ps = Tensors.shape(pair);
            // each entry repeated for the batch: [neg x B, pos x B], as diffusers repeats them
            Tensor context = pair.unsqueeze(1).expand(ps[0], batch, ps[1], ps[2]).reshape(ps[0] * batch, ps[1], ps[2]);

            // 3. timesteps
            SchedulerRun steps = request.isImageToImage()
                    ? scheduler.startImg2Img(request.steps(), request.strength())
                    : scheduler.start(request.steps());

            // 4. latents (and, for inpainting, what stays fixed)
            Prepared prepared = prepare(request, steps, width, height, batch, latentChannels, h, w, generator);
            Tensor latents = prepared.latents();
            Tensor initialLatents = latents.clone();

            // 5. denoising loop
            for (int i = 0; i < steps.size(); i++) {
                try (PointerScope step = new PointerScope()) {
                    Tensor t = steps.timestep(i);
                    Tensor input = request.usesGuidance() ? torch.cat(new TensorVector(latents, latents), 0) : latents;
                    input = steps.scaleModelInput(input);
                    if (ninechannel) {
                        input = torch.cat(new TensorVector(input, prepared.maskForUnet(), prepared.maskedImageForUnet()), 1);
                    }
                    Tensor noise = unet.forward(input, t, context).to(ScalarType.Float);
                    if (request.usesGuidance()) {
                        TensorVector halves = noise.chunk(2, 0);
                        Tensor uncond = halves.get(0);
                        noise = uncond.add(halves.get(1).sub(uncond).mul(new Scalar(request.guidanceScale())));
                    }
                    Tensor next = steps.step(noise, latents, generator).prevSample();
                    if (prepared.legacyMask() != null) {
                        // legacy 4-channel inpainting re-imposes the known region noised to the CURRENT t
                        Tensor known = steps.addNoise(prepared.initLatents(), prepared.noise(), t.reshape(1));
                        next = known.mul(prepared.legacyMask()).add(next.mul(prepared.legacyMask().neg().add(new Scalar(1.0))));
                    }
                    Tensor replaced = callback.onStep(i, steps.size(), steps.timestepValue(i), next);
                    if (replaced != null) next = replaced.to(ScalarType.Float);
                    run.attach(next);
                    // the previous step's latents (attached above one step earlier) are not needed any
                    // more: free them now, or a long run keeps every step's latents until it ends
                    if (i > 0) run.detach(latents);
                    latents = next;
                }
            }
            steps.close();
            if (prepared.legacyMask() != null) {
                latents = prepared.initLatents().mul(prepared.legacyMask())
                        .add(latents.mul(prepared.legacyMask().neg().add(new Scalar(1.0))));
            }

            // 6. decode (in tiles for large images, see VAETiling), after handing the loop's freed
            //    memory back: the decoder's peak comes on top of what is resident
            NativeMemory.trim();
            Tensor decoded = decodeLatents(latents, request.vaeTiling()).to(ScalarType.Float);
            List<BufferedImage> images = List.of(Images.fromTensor(decoded));
            if (request.isInpainting() && request.keepUnmasked()) {
                images = overlay(images, prepared.fittedInit(), prepared.fittedMask());
            }
            List<PngParameters> parameters = new ArrayList<>();
            for (int i = 0; i < batch; i++) parameters.add(parameters(request, scheduler, width, height, i, loras));
            Tensor initialOut = initialLatents.to(Tensors.CPU, ScalarType.Float).clone();
            Tensor finalOut = latents.to(Tensors.CPU, ScalarType.Float).clone();
            initialOut.retainReference();
            finalOut.retainReference();
            return new GenerationResult(images, parameters, initialOut, finalOut, warnings);
        }
    }

    private int defaultWidth(GenerationRequest r) {
        return r.isImageToImage() ? r.initImage().getWidth() / 8 * 8 : defaultSize();
    }

    private int defaultHeight(GenerationRequest r) {
        return r.isImageToImage() ? r.initImage().getHeight() / 8 * 8 : defaultSize();
    }

    /**
     * The text-encoder states the UNet attends to: {@code [negative, prompt]} when guidance is on
     * (diffusers' order), else the prompt alone. {@code prompt} is the request's without its
     * extra-network tags.
     */
    private Tensor encodePrompts(GenerationRequest r, String prompt, List<String> warnings) {
        PromptOptions options = (r.longPrompts() == LongPromptMode.CHUNK ? PromptOptions.A1111 : PromptOptions.DIFFUSERS)
                .withClipSkip(r.clipSkip());
        PromptEmbeds encoded;
        Tensor states;
        if (r.usesGuidance()) {
            PromptEmbedsPair pair = promptEncoder.encodePair(prompt, r.negativePrompt(), options);
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
        return states;
    }

    /**
     * What the loop starts from: the latents and, for inpainting, the fixed inputs.
     *
     * @param maskForUnet        9-channel inpainting: the mask at latent size (doubled for guidance)
     * @param maskedImageForUnet 9-channel inpainting: latents of the image with the mask area blanked
     * @param legacyMask         4-channel inpainting: 1 = keep, at latent size
     */
    private record Prepared(Tensor latents, Tensor maskForUnet, Tensor maskedImageForUnet, Tensor legacyMask,
                            Tensor initLatents, Tensor noise, BufferedImage fittedInit, BufferedImage fittedMask) {}

    private Prepared prepare(GenerationRequest r, SchedulerRun steps, int width, int height, int batch,
                             long channels, long h, long w, TorchGenerator generator) {
        long[] shape = {batch, channels, h, w};
        if (!r.isImageToImage()) {
            // txt2img: ONE randn for the whole batch, scaled to the scheduler's initial sigma
            Tensor latents = generator.randn(shape).mul(new Scalar(steps.initNoiseSigma()));
            return new Prepared(toDevice(latents), null, null, null, null, null, null, null);
        }
        BufferedImage init = Images.fit(r.initImage(), width, height, r.resizeMode());
        Tensor image = Images.toTensor(init);
        Tensor latentTimestep = steps.timestep(0).reshape(1).repeat(batch);
        if (!r.isInpainting()) {
            // img2img: the VAE sample draws first, then the noise
            Tensor initLatents = encodeLatents(image, generator, r.vaeTiling()).repeat(batch, 1, 1, 1);
            Tensor noise = toDevice(generator.randn(shape));
            return new Prepared(steps.addNoise(initLatents, noise, latentTimestep), null, null, null, null, null, init, null);
        }
        BufferedImage maskImage = Images.blurMask(Images.fit(r.mask(), width, height, r.resizeMode()), r.maskBlur());
        // diffusers binarises the mask: >= 0.5 repaints
        Tensor mask = Images.maskToTensor(maskImage).ge(new Scalar(0.5)).to(ScalarType.Float);
        if (unet.config().inChannels() == 9) {
            Tensor latents;
            if (r.strength() == 1.0) {
                // pure noise start: the noise draws first, then the masked image's VAE sample
                latents = toDevice(generator.randn(shape)).mul(new Scalar(steps.initNoiseSigma()));
            } else {
                Tensor initLatents = encodeLatents(image, generator, r.vaeTiling()).repeat(batch, 1, 1, 1);
                Tensor noise = toDevice(generator.randn(shape));
                latents = steps.addNoise(initLatents, noise, latentTimestep);
            }
            Tensor masked = image.mul(mask.lt(new Scalar(0.5)).to(ScalarType.Float));
            Tensor maskedLatents = encodeLatents(masked, generator, r.vaeTiling()).repeat(batch, 1, 1, 1);
            Tensor smallMask = toDevice(torch.upsample_nearest2d(mask, h, w)).repeat(batch, 1, 1, 1);
            if (r.usesGuidance()) {
                smallMask = torch.cat(new TensorVector(smallMask, smallMask), 0);
                maskedLatents = torch.cat(new TensorVector(maskedLatents, maskedLatents), 0);
            }
            return new Prepared(latents, smallMask, maskedLatents, null, null, null, init, maskImage);
        }
        // legacy 4-channel inpainting: noise the image latents, then keep re-imposing them outside the mask
        Tensor initLatents = encodeLatents(image, generator, r.vaeTiling()).repeat(batch, 1, 1, 1);
        Tensor noise = toDevice(generator.randn(shape));
        Tensor keep = toDevice(torch.upsample_nearest2d(mask, h, w)).neg().add(new Scalar(1.0))
                .expand(batch, channels, h, w).contiguous();
        return new Prepared(steps.addNoise(initLatents, noise, latentTimestep), null, null, keep, initLatents, noise,
                init, maskImage);
    }

    /** VAE latents of an image in [-1, 1], sampled with the generator and scaled, float32 on the device. */
    private Tensor encodeLatents(Tensor image, TorchGenerator generator, VAETiling tiling) {
        DiagonalGaussianDistribution posterior = tiling.tiles(image.size(2), image.size(3), vae.defaultTiling().tileSampleSize())
                ? vae.encodeTiled(image, vae.defaultTiling()) : vae.encode(image);
        return posterior.sample(generator).to(ScalarType.Float).mul(new Scalar(vae.scalingFactor()));
    }

    /** Scaled latents back to pixels [B, 3, H, W], in the VAE's dtype. */
    private Tensor decodeLatents(Tensor latents, VAETiling tiling) {
        if (tinyDecoder != null) return tinyDecoder.decode(latents.div(new Scalar(tinyDecoder.scalingFactor())));
        Tensor z = latents.div(new Scalar(vae.scalingFactor()));
        int f = vaeScaleFactor();
        return tiling.tiles(z.size(2) * f, z.size(3) * f, vae.defaultTiling().tileSampleSize()) ? vae.decodeTiled(z, vae.defaultTiling()) : vae.decode(z);
    }

    private Tensor toDevice(Tensor t) {
        return t.to(options.device(), ScalarType.Float);
    }

    /** A1111's "apply overlay": the input's pixels outside the (blurred) mask, the result's inside. */
    private static List<BufferedImage> overlay(List<BufferedImage> images, BufferedImage init, BufferedImage mask) {
        List<BufferedImage> out = new ArrayList<>();
        for (BufferedImage img : images) {
            BufferedImage o = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < img.getHeight(); y++) {
                for (int x = 0; x < img.getWidth(); x++) {
                    double a = (mask.getRGB(x, y) & 0xff) / 255.0;
                    int p = img.getRGB(x, y);
                    int q = init.getRGB(x, y);
                    int rgb = 0;
                    for (int shift = 16; shift >= 0; shift -= 8) {
                        int c = (int) Math.round(((p >> shift) & 0xff) * a + ((q >> shift) & 0xff) * (1 - a));
                        rgb |= c << shift;
                    }
                    o.setRGB(x, y, rgb);
                }
            }
            out.add(o);
        }
        return out;
    }

    private PngParameters parameters(GenerationRequest r, Scheduler scheduler, int width, int height, int index,
                                     List<ActiveLoRA> loras) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("Steps", Integer.toString(r.steps()));
        s.put("Sampler", samplerName(scheduler));
        s.put("CFG scale", number(r.guidanceScale()));
        s.put("Seed", Long.toString(r.seed()));
        s.put("Size", width + "x" + height);
        s.put("Model", name);
        if (options.vae() != null && options.vae().getFileName() != null) s.put("VAE", options.vae().getFileName().toString());
        if (r.clipSkip() > 0) s.put("Clip skip", Integer.toString(r.clipSkip() + 1)); // A1111 counts from 1
        if (r.isImageToImage()) s.put("Denoising strength", number(r.strength()));
        if (r.isInpainting() && r.maskBlur() > 0) s.put("Mask blur", Integer.toString(r.maskBlur()));
        if (r.eta() > 0) s.put("Eta", number(r.eta()));
        if (r.numImages() > 1) {
            s.put("Batch size", Integer.toString(r.numImages()));
            s.put("Batch pos", Integer.toString(index));
        }
        if (r.longPrompts() == LongPromptMode.CHUNK) s.put("Prompt style", "A1111");
        if (!loras.isEmpty()) {
            // A1111's extra_networks_lora: "name: shorthash, ..." with ':' and ',' taken out of names
            List<String> hashes = new ArrayList<>();
            for (ActiveLoRA l : loras) {
                hashes.add(l.spec().displayName().replace(":", "").replace(",", "") + ": " + l.hash());
            }
            s.put("Lora hashes", String.join(", ", hashes));
        }
        s.put("Generator", "jdiffusion (diffusers-compatible seed)");
        return new PngParameters(r.prompt(), r.negativePrompt(), s);
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

    private static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? String.format(Locale.ROOT, "%.1f", v)
                : String.format(Locale.ROOT, "%s", v);
    }

    /** Closes the models' native memory. */
    @Override
    public void close() {
        textEncoder.close();
        unet.close();
        vae.close();
        if (tinyDecoder != null) tinyDecoder.close();
        NativeMemory.trim();
    }
}
