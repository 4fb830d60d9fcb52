package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.io.ModelFolder;
import jdiffusion.lora.LoRASession;
import jdiffusion.lora.LoRASpec;
import jdiffusion.lora.LoRAWeights;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.prompts.PromptEncoder;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers' StableDiffusionPipeline, StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline
 * (9-channel UNet) and StableDiffusionInpaintPipelineLegacy (4-channel UNet) behind one
 * {@link #generate} call, plus AUTOMATIC1111's hires fix ({@link HiresFix}): the same seed gives
 * diffusers' initial latents and, in fp32, its image.
 *
 * <p>Loaded once and shareable between threads: every call gets its own scheduler run and
 * generator. The components are public so that a sampling loop can be written by hand.
 * <b>LoRAs</b> (the request's, and {@code <lora:NAME:0.8>} tags in the prompt) are merged into the
 * weights for the length of one call by the components' {@link LoRASession}, which says how calls
 * with and without LoRAs share the pipeline.
 *
 * <pre>{@code
 * try (var pipe = StableDiffusionPipeline.load("stable-diffusion-v1-5/stable-diffusion-v1-5", PipelineOptions.defaults())) {
 *     GenerationResult r = pipe.generate(GenerationRequest.builder("a red circle").seed(42).build());
 * }
 * }</pre>
 */
public final class StableDiffusionPipeline implements AutoCloseable {
    private final StableDiffusionComponents components;

    /** Builds a pipeline from components that are already loaded (e.g. a UNet swapped in). */
    public StableDiffusionPipeline(String name, CLIPTokenizer tokenizer, CLIPTextModel textEncoder,
                                   UNet2DConditionModel unet, AutoencoderKL vae, SchedulerConfigFile schedulerConfig,
                                   PipelineOptions options) {
        this(new StableDiffusionComponents(name, tokenizer, textEncoder, unet, vae, schedulerConfig, options));
    }

    public StableDiffusionPipeline(StableDiffusionComponents components) {
        this.components = components;
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
        NativeThreads.configureForInference();
        if (StableDiffusionComponents.isFile(model)) {
            return SingleFilePipelineLoader.load(Path.of(model), tokenizerDir, options);
        }
        ModelFolder folder = ModelFolder.resolve(model);
        return new StableDiffusionPipeline(StableDiffusionComponents.load(folder,
                StableDiffusionComponents.displayName(model, folder), options));
    }

    public StableDiffusionComponents components() { return components; }
    public String name() { return components.name(); }
    public CLIPTokenizer tokenizer() { return components.tokenizer(); }
    public CLIPTextModel textEncoder() { return components.textEncoder(); }
    public UNet2DConditionModel unet() { return components.unet(); }
    public AutoencoderKL vae() { return components.vae(); }
    /** The TAESD decoder in use instead of the VAE's, or null. */
    public jdiffusion.models.vae.AutoencoderTiny tinyDecoder() { return components.tinyDecoder(); }
    public SchedulerConfigFile schedulerConfig() { return components.schedulerConfig(); }
    public PipelineOptions options() { return components.options(); }
    public PromptEncoder promptEncoder() { return components.promptEncoder(); }

    /** Pixels per latent pixel: 2^(number of VAE blocks - 1), 8 for Stable Diffusion. */
    public int vaeScaleFactor() {
        return components.vaeScaleFactor();
    }

    /** The model's native size in pixels (diffusers: unet.sample_size * vae_scale_factor). */
    public int defaultSize() {
        Integer s = unet().config().sampleSize();
        return (s == null ? 64 : s) * vaeScaleFactor();
    }

    /** See {@link StableDiffusionComponents#scheduler}. */
    public Scheduler scheduler(String sampler, double eta) {
        return components.scheduler(sampler, eta);
    }

    /**
     * Runs {@code work} with {@code loras} merged into the UNet and text encoder (no other work sees
     * them): for sampling loops written by hand against {@link #unet()} and {@link #promptEncoder()}.
     * {@link #generate} may be called inside, on the calling thread; its own LoRAs go on top for its
     * length (a request with none runs on these). Named LoRAs are looked up in {@code loraDir}.
     */
    public <T> T withLoRAs(List<LoRASpec> loras, Path loraDir, Supplier<T> work) {
        return components.loras().run(loras, loraDir, used -> work.get());
    }

    /** See {@link LoRASession#read}. The caller closes it. */
    public LoRAWeights readLoRA(Path file) {
        return components.loras().read(file);
    }

    public GenerationResult generate(GenerationRequest request) {
        return generate(request, StepCallback.NONE);
    }

    /** Runs one request: text-to-image (with hires fix), image-to-image, or inpainting (see {@link GenerationRequest}). */
    public GenerationResult generate(GenerationRequest request, StepCallback callback) {
        // 0. size, scheduler and inputs are checked before any work
        int width = request.width() != 0 ? request.width() : defaultWidth(request);
        int height = request.height() != 0 ? request.height() : defaultHeight(request);
        int f = vaeScaleFactor();
        if (width < f || height < f) { // e.g. a 1x1 init image, whose size rounds down to 0x0
            throw new JDiffusionException("the image would be " + width + "x" + height + " pixels: too small for this model,"
                    + " which needs at least " + f + "x" + f + (request.isImageToImage() ? " (the init image is "
                    + request.initImage().getWidth() + "x" + request.initImage().getHeight() + "; give --width and --height)" : ""));
        }
        if (width % f != 0 || height % f != 0) {
            throw new JDiffusionException("width and height must be multiples of " + f + " for this model, not "
                    + width + "x" + height);
        }
        Scheduler scheduler = scheduler(request.sampler(), request.eta());
        int channels = unet().config().inChannels();
        if (channels == 9 && !request.isInpainting()) {
            throw new JDiffusionException(name() + " has an inpainting UNet (9 input channels): use inpaint with --mask");
        }
        if (channels != 4 && channels != 9) {
            throw new JDiffusionException(name() + " has a UNet with " + channels + " input channels ("
                    + (channels == 5 ? "a depth model: use depth2img" : channels == 7 ? "an upscaler: use upscale" : "unknown")
                    + "); txt2img, img2img and inpaint need 4 or 9");
        }
        HiresFixPass hires = request.hires() == null ? null : HiresFixPass.plan(components, request, scheduler, width, height);

        // 1. LoRAs: the request's, then the prompt's tags (taken out of the text), for the length of the call
        return components.withLoRAs(request, call -> run(request, call, callback, width, height, scheduler, hires));
    }

    /** Steps 2 to 6 of a call, on the weights as they are now (the caller holds the lock). */
    private GenerationResult run(GenerationRequest request, StableDiffusionComponents.Call call, StepCallback callback,
                                 int width, int height, Scheduler scheduler, HiresFixPass hires) {
        String prompt = call.prompt();
        List<String> warnings = call.warnings();
        int f = vaeScaleFactor();
        long[] shape = {request.numImages(), vae().config().latentChannels(), height / f, width / f};
        TorchGenerator generator = new TorchGenerator(request.seed());
        VAEImageCodec codec = components.codec();

        try (PointerScope run = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            // 2. text: [uncond x B, cond x B] when guidance is on, as diffusers concatenates them
            Tensor context = components.encodePrompts(request, prompt, request.negativePrompt(), warnings);
            Tensor hiresContext = hires == null ? null : hires.states(prompt, context, warnings);
            components.textEncodingDone();

            // 3. timesteps
            SchedulerRun steps = request.isImageToImage()
                    ? scheduler.startImg2Img(request.steps(), request.strength())
                    : scheduler.start(request.steps());

            // 4. latents (and, for inpainting, what stays fixed)
            BufferedImage init = request.isImageToImage() ? Images.fit(request.initImage(), width, height, request.resizeMode()) : null;
            BufferedImage mask = request.isInpainting()
                    ? Images.blurMask(Images.fit(request.mask(), width, height, request.resizeMode()), request.maskBlur()) : null;
            LatentInputs inputs = prepare(request, init, mask, steps, shape, generator, codec);
            Tensor initialLatents = inputs.latents().clone();

            // 5. denoising loop (and hires fix's second pass, which counts on in the same callback)
            int total = steps.size() + (hires == null ? 0 : hires.steps());
            DenoisingLoop loop = new DenoisingLoop(unet(), context, null, request.guidanceScale(), request.deepCache());
            Tensor latents = loop.run(steps, inputs, generator, HiresFixPass.offset(callback, 0, total), run);
            if (hires != null) {
                // the infotext's Size stays the first pass's, as A1111 writes it ("Hires upscale" says the rest)
                latents = hires.run(latents, hiresContext, HiresFixPass.offset(callback, steps.size(), total), run);
            }

            // 6. decode
            List<BufferedImage> images = components.decode(latents, request.vaeTiling());
            if (request.isInpainting() && request.keepUnmasked()) images = MaskOverlay.apply(images, init, mask);
            List<PngParameters> parameters = components.parameters(request, scheduler,
                    hires == null ? null : hires.samplerName(), width, height, call.loras(), java.util.Map.of());
            return GenerationResult.of(images, parameters, initialLatents, latents, warnings);
        }
    }

    private LatentInputs prepare(GenerationRequest r, BufferedImage init, BufferedImage maskImage, SchedulerRun steps,
                                 long[] shape, TorchGenerator generator, VAEImageCodec codec) {
        var device = options().device();
        if (!r.isImageToImage()) return TextToImageLatents.prepare(shape, steps, generator, device);
        Tensor image = Images.toTensor(init);
        if (!r.isInpainting()) {
            // img2img: the VAE sample draws first, then the noise
            Tensor initLatents = codec.encode(image, generator, r.vaeTiling()).repeat(shape[0], 1, 1, 1);
            return ImageToImageLatents.prepare(initLatents, steps, generator, device);
        }
        if (unet().config().inChannels() != 9) {
            // the legacy pipeline does not binarise its mask (see Images.legacyInpaintKeepMask)
            return LegacyInpaintLatents.prepare(codec, image, maskImage, shape, steps, generator, r.vaeTiling(), device);
        }
        // the 9-channel pipeline binarises the mask: >= 0.5 repaints
        Tensor mask = Images.maskToTensor(maskImage).ge(new Scalar(0.5)).to(ScalarType.Float);
        return InpaintLatents.prepare(codec, image, mask, shape, r.strength(), steps, generator, r.vaeTiling(), device);
    }

    private int defaultWidth(GenerationRequest r) {
        return r.isImageToImage() ? r.initImage().getWidth() / 8 * 8 : defaultSize();
    }

    private int defaultHeight(GenerationRequest r) {
        return r.isImageToImage() ? r.initImage().getHeight() / 8 * 8 : defaultSize();
    }

    /** Closes the models' native memory. */
    @Override
    public void close() {
        components.close();
    }
}
