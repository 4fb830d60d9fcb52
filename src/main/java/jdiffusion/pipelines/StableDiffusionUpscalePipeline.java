package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers' {@code StableDiffusionUpscalePipeline} (stabilityai/stable-diffusion-x4-upscaler): the
 * low-resolution image stays in pixel space, noised by the {@code low_res_scheduler} to
 * {@code noise_level}, and is concatenated to latents of its own size (7 UNet input channels); the
 * noise level is the UNet's class label. The VAE (scaling factor 0.08333, 4x) decodes to 4x the size,
 * in float32 whatever the compute dtype (diffusers upcasts it), in tiles for large outputs.
 *
 * <pre>{@code
 * try (var pipe = StableDiffusionUpscalePipeline.load("stabilityai/stable-diffusion-x4-upscaler", PipelineOptions.defaults())) {
 *     GenerationResult r = pipe.generate(new UpscaleRequest(UpscaleRequest.defaults("a cat").initImage(small).build(), 20));
 * }
 * }</pre>
 */
public final class StableDiffusionUpscalePipeline implements AutoCloseable {
    private final StableDiffusionComponents components;
    private final Scheduler lowResScheduler;
    private final int maxNoiseLevel;

    public StableDiffusionUpscalePipeline(StableDiffusionComponents components, SchedulerConfigFile lowResScheduler,
                                          int maxNoiseLevel) {
        var unet = components.unet().config();
        if (unet.inChannels() != components.vae().config().latentChannels() + 3 || unet.numClassEmbeds() == null) {
            throw new JDiffusionException(components.name() + " is not an upscaler: its UNet takes " + unet.inChannels()
                    + " channels" + (unet.numClassEmbeds() == null ? " and no class labels" : "")
                    + "; the x4 upscaler's takes latents + the RGB image (7) and the noise level as class label");
        }
        if (maxNoiseLevel < 0 || maxNoiseLevel >= unet.numClassEmbeds()) {
            throw new JDiffusionException("max_noise_level " + maxNoiseLevel + " must be below the UNet's num_class_embeds "
                    + unet.numClassEmbeds());
        }
        this.components = components;
        this.lowResScheduler = Schedulers.fromConfig(lowResScheduler, Map.of());
        this.maxNoiseLevel = maxNoiseLevel;
    }

    /** A diffusers upscaler folder (model_index.json with low_res_scheduler and max_noise_level). Build outside any PointerScope. */
    public static StableDiffusionUpscalePipeline load(String model, PipelineOptions options) {
        NativeThreads.configureForInference();
        ModelFolder folder = ModelFolder.resolve(model);
        String name = StableDiffusionComponents.displayName(model, folder);
        CLIPTokenizer tokenizer = CLIPTokenizer.load(folder.component("tokenizer"));
        CLIPTextModel text = CLIPTextModel.load(folder.component("text_encoder"), options.variant(), options.dtype(), options.device());
        UNet2DConditionModel unet = UNet2DConditionModel.load(folder.component("unet"), options.variant(), options.dtype(), options.device());
        // the VAE decodes in float32 (diffusers' upcast_vae: it overflows in float16)
        AutoencoderKL vae = AutoencoderKL.load(folder.component("vae"), options.variant(), ScalarType.Float, options.device());
        SchedulerConfigFile scheduler = SchedulerConfigFile.read(folder.component("scheduler").resolve("scheduler_config.json"));
        SchedulerConfigFile lowRes = SchedulerConfigFile.read(folder.component("low_res_scheduler").resolve("scheduler_config.json"));
        int maxNoise = folder.index().path("max_noise_level").asInt(350);
        return new StableDiffusionUpscalePipeline(
                new StableDiffusionComponents(name, tokenizer, text, unet, vae, scheduler, options)
                        .restoringLoRAsFrom(folder, options.variant()), lowRes, maxNoise);
    }

    public StableDiffusionComponents components() { return components; }
    public int maxNoiseLevel() { return maxNoiseLevel; }

    public GenerationResult generate(UpscaleRequest request) {
        return generate(request, StepCallback.NONE);
    }

    public GenerationResult generate(UpscaleRequest request, StepCallback callback) {
        // 0. checks before any work
        if (request.noiseLevel() > maxNoiseLevel) {
            throw new JDiffusionException("--noise-level must be between 0 and " + maxNoiseLevel + " (the model's max_noise_level), not "
                    + request.noiseLevel());
        }
        GenerationRequest r = request.generation();
        int f = components.vaeScaleFactor();
        BufferedImage low = r.initImage();
        // diffusers' VaeImageProcessor rounds the input down to a multiple of the VAE factor
        int width = low.getWidth() / f * f, height = low.getHeight() / f * f;
        if (width == 0 || height == 0 || width * f > GenerationRequest.MAX_SIDE || height * f > GenerationRequest.MAX_SIDE) {
            throw new JDiffusionException("--image is " + low.getWidth() + "x" + low.getHeight() + "; the upscaler takes images of "
                    + f + " to " + GenerationRequest.MAX_SIDE / f + " pixels a side");
        }
        Scheduler scheduler = components.scheduler(r.sampler(), r.eta());
        // 1. LoRAs, for the length of the call
        return components.withLoRAs(r, call -> run(request, call, callback, width, height, scheduler));
    }

    private GenerationResult run(UpscaleRequest request, StableDiffusionComponents.Call call, StepCallback callback, int width,
                                 int height, Scheduler scheduler) {
        GenerationRequest r = request.generation();
        int batch = r.numImages();
        TorchGenerator generator = new TorchGenerator(r.seed());
        var device = components.options().device();
        try (PointerScope run = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            // 1. text
            Tensor context = components.encodePrompts(r, call.prompt(), r.negativePrompt(), call.warnings());
            components.textEncodingDone();
            // 2. the low-res image in [-1, 1], noised to noise_level by the low-res scheduler (the first draw)
            Tensor image = Images.toTensor(Images.fit(r.initImage(), width, height, r.resizeMode()));
            Tensor level = Tensors.fromLongs(new long[] {request.noiseLevel()});
            Tensor noise = generator.randn(Tensors.shape(image));
            SchedulerRun lowRes = lowResScheduler.start(1);
            Tensor noised = lowRes.addNoise(image, noise, level).repeat(batch, 1, 1, 1).to(device, ScalarType.Float);
            lowRes.close();
            long labels = ClassifierFreeGuidance.isOn(r.guidanceScale()) ? 2L * batch : batch;
            Tensor classLabels = level.repeat(labels);
            // 3. timesteps and latents of the low-res size (the second draw)
            SchedulerRun steps = scheduler.start(r.steps());
            long[] shape = {batch, components.vae().config().latentChannels(), height, width};
            UpscaleLatents inputs = new UpscaleLatents(TextToImageLatents.prepare(shape, steps, generator, device).latents(), noised);
            Tensor initialLatents = inputs.latents().clone();
            // 4. denoising loop: the image joins the UNet input after scale_model_input, the level is the class label
            Tensor latents = new DenoisingLoop(components.unet(), context, classLabels, r.guidanceScale(), r.deepCache())
                    .run(steps, inputs, generator, callback, run);
            // 5. decode to 4x
            List<BufferedImage> images = components.decode(latents, r.vaeTiling());
            List<PngParameters> parameters = components.parameters(r, scheduler, null, width * components.vaeScaleFactor(),
                    height * components.vaeScaleFactor(), call.loras(), Map.of("Noise level", Integer.toString(request.noiseLevel())));
            return GenerationResult.of(images, parameters, initialLatents, latents, call.warnings());
        }
    }

    @Override
    public void close() {
        components.close();
    }
}
