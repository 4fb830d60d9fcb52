package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.io.ModelFolder;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.bytedeco.pytorch.global.torch;

/**
 * diffusers' {@code StableDiffusionDepth2ImgPipeline} (stabilityai/stable-diffusion-2-depth): image-to-image
 * whose UNet also sees the scene's depth as a 5th input channel, so the new image keeps the old one's
 * shapes. The depth comes from the user or from the pipeline's {@link DPTForDepthEstimation}; it is
 * resized to the latents (bicubic) and min-max scaled to [-1, 1] per image.
 *
 * <pre>{@code
 * try (var pipe = StableDiffusionDepth2ImgPipeline.load("stabilityai/stable-diffusion-2-depth", null, PipelineOptions.defaults())) {
 *     GenerationResult r = pipe.generate(new DepthToImageRequest(
 *             GenerationRequest.builder("a stone castle").initImage(photo).strength(0.7).seed(42).build(), null));
 * }
 * }</pre>
 */
public final class StableDiffusionDepth2ImgPipeline implements AutoCloseable {
    private final StableDiffusionComponents components;
    private final DepthEstimation depth;

    public StableDiffusionDepth2ImgPipeline(StableDiffusionComponents components, DepthEstimation depth) {
        if (components.unet().config().inChannels() != 5) {
            throw new JDiffusionException(components.name() + " has a UNet with " + components.unet().config().inChannels()
                    + " input channels; depth2img needs a depth model's (5: latents + depth)");
        }
        this.components = components;
        this.depth = depth;
    }

    /**
     * A diffusers depth2img folder (or Hub repo id): its components, {@code depth_estimator/} and
     * {@code feature_extractor/}; {@code depthEstimatorDir} (a transformers DPT folder with its
     * preprocessor_config.json) replaces the folder's own. Build outside any PointerScope.
     */
    public static StableDiffusionDepth2ImgPipeline load(String model, Path depthEstimatorDir, PipelineOptions options) {
        return load(model, null, depthEstimatorDir, options);
    }

    /**
     * As {@link #load(String, Path, PipelineOptions)}, where {@code model} may also be a single-file SD 2
     * depth checkpoint ({@code 512-depth-ema}); such a file holds no tokenizer ({@code tokenizerDir}) and
     * its depth estimator is MiDaS in another layout, so {@code depthEstimatorDir} is required.
     */
    public static StableDiffusionDepth2ImgPipeline load(String model, Path tokenizerDir, Path depthEstimatorDir,
                                                        PipelineOptions options) {
        NativeThreads.configureForInference();
        boolean file = StableDiffusionComponents.isFile(model);
        if (file && depthEstimatorDir == null) {
            throw new JDiffusionException(Path.of(model).getFileName() + " is a single-file checkpoint: its depth_model.* "
                    + "(MiDaS in the original layout) is not read; pass --depth-estimator DIR (a transformers DPT folder, e.g. "
                    + "the depth_estimator/ of stabilityai/stable-diffusion-2-depth or Intel/dpt-hybrid-midas)");
        }
        ModelFolder folder = file ? null : ModelFolder.resolve(model);
        Path dptDir = depthEstimatorDir != null ? depthEstimatorDir : folder.component("depth_estimator");
        Path processor = depthEstimatorDir == null && folder.has("feature_extractor")
                ? folder.component("feature_extractor").resolve("preprocessor_config.json") : null;
        DepthEstimation depth = DepthEstimation.load(dptDir, processor, options);
        try {
            StableDiffusionComponents c = file ? SingleFilePipelineLoader.components(Path.of(model), tokenizerDir, options)
                    : StableDiffusionComponents.load(folder, StableDiffusionComponents.displayName(model, folder), options);
            return new StableDiffusionDepth2ImgPipeline(c, depth);
        } catch (RuntimeException e) {
            depth.close();
            throw e;
        }
    }

    public StableDiffusionComponents components() { return components; }
    public DepthEstimation depthEstimation() { return depth; }

    /** The DPT's relative inverse depth of {@code image} at the processor's size: [1, H', W'] float32 (caller's scope). */
    public Tensor estimateDepth(BufferedImage image) {
        return depth.estimate(image);
    }

    public GenerationResult generate(DepthToImageRequest request) {
        return generate(request, StepCallback.NONE);
    }

    public GenerationResult generate(DepthToImageRequest request, StepCallback callback) {
        // 0. size and scheduler are checked before any work
        GenerationRequest r = request.generation();
        int width = r.width() != 0 ? r.width() : r.initImage().getWidth() / 8 * 8;
        int height = r.height() != 0 ? r.height() : r.initImage().getHeight() / 8 * 8;
        int f = components.vaeScaleFactor();
        if (width % f != 0 || height % f != 0 || width == 0 || height == 0) {
            throw new JDiffusionException("width and height must be positive multiples of " + f + ", not " + width + "x" + height);
        }
        Scheduler scheduler = components.scheduler(r.sampler(), r.eta());
        // 1. LoRAs, for the length of the call
        return components.withLoRAs(r, call -> run(request, call, callback, width, height, scheduler));
    }

    private GenerationResult run(DepthToImageRequest request, StableDiffusionComponents.Call call, StepCallback callback, int width,
                                 int height, Scheduler scheduler) {
        GenerationRequest r = request.generation();
        int f = components.vaeScaleFactor();
        TorchGenerator generator = new TorchGenerator(r.seed());
        try (PointerScope run = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            // 2. text
            Tensor context = components.encodePrompts(r, call.prompt(), r.negativePrompt(), call.warnings());
            components.textEncodingDone();
            // 3. depth (from the original image, as diffusers' prepare_depth_map), at the latent size in [-1, 1]
            Tensor given = request.depthMap() != null ? request.depthMap().tensor() : estimateDepth(r.initImage());
            Tensor depthLatent = normalisedDepth(given, height / f, width / f, r.numImages())
                    .to(components.options().device(), ScalarType.Float);
            // 4. timesteps
            SchedulerRun steps = scheduler.startImg2Img(r.steps(), r.strength());
            // 5. latents: the VAE sample draws first, then the noise
            Tensor image = Images.toTensor(Images.fit(r.initImage(), width, height, r.resizeMode()));
            Tensor initLatents = components.codec().encode(image, generator, r.vaeTiling()).repeat(r.numImages(), 1, 1, 1);
            DepthLatents inputs = new DepthLatents(
                    ImageToImageLatents.prepare(initLatents, steps, generator, components.options().device()), depthLatent);
            Tensor initialLatents = inputs.latents().clone();
            // 6. denoising loop: the depth joins the UNet input after scale_model_input
            Tensor latents = new DenoisingLoop(components.unet(), context, null, r.guidanceScale(), r.deepCache())
                    .run(steps, inputs, generator, callback, run);
            // 7. decode
            List<BufferedImage> images = components.decode(latents, r.vaeTiling());
            List<PngParameters> parameters = components.parameters(r, scheduler, null, width, height, call.loras(), java.util.Map.of());
            return GenerationResult.of(images, parameters, initialLatents, latents, call.warnings());
        }
    }

    /**
     * diffusers' prepare_depth_map after the estimate: [N, H, W] -> bicubic (align_corners False) to
     * [N, 1, h, w], {@code 2 (d - min) / (max - min) - 1} per map, repeated to the batch.
     */
    static Tensor normalisedDepth(Tensor depth, long h, long w, int batch) {
        Tensor d = torch.upsample_bicubic2d(depth.to(ScalarType.Float).unsqueeze(1), new long[] {h, w}, false);
        long n = d.size(0);
        Tensor flat = d.reshape(n, -1);
        Tensor min = flat.amin(new long[] {1}, true).reshape(n, 1, 1, 1);
        Tensor max = flat.amax(new long[] {1}, true).reshape(n, 1, 1, 1);
        d = d.sub(min).mul(new Scalar(2.0)).div(max.sub(min)).sub(new Scalar(1.0));
        return n < batch ? d.repeat(batch / n, 1, 1, 1) : d;
    }

    @Override
    public void close() {
        components.close();
        depth.close();
    }
}
