package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.image.Resampling;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * The second pass of AUTOMATIC1111's hires fix (modules/processing.py
 * {@code StableDiffusionProcessingTxt2Img.sample_hr_pass}):
 * <ol>
 * <li>the first pass's latents interpolated to {@code int(side * scale) // 8} ({@code F.interpolate}
 *     with the upscaler's mode), or decoded to 8-bit images, resized and encoded again;
 * <li>a fresh generator from the same seed: the noise of the new size (for the image upscalers the
 *     VAE sample draws first, as in this project's img2img);
 * <li>img2img on A1111's stretched schedule ({@code sd_samplers_common.setup_img2img_steps} when the
 *     steps are given): {@code int(steps / min(strength, 0.999))} steps of which the last
 *     {@code steps} run, so the second pass takes exactly the requested steps.
 * </ol>
 */
final class HiresFixPass {
    private final StableDiffusionComponents components;
    private final GenerationRequest request;
    private final HiresFix hires;
    private final Scheduler scheduler;
    private final int width;
    private final int height;
    private final int scheduleSteps;
    private final int begin;
    private final int unetSteps;

    private HiresFixPass(StableDiffusionComponents components, GenerationRequest request, Scheduler scheduler,
                         int width, int height, int scheduleSteps, int begin, int unetSteps) {
        this.components = components;
        this.request = request;
        this.hires = request.hires();
        this.scheduler = scheduler;
        this.width = width;
        this.height = height;
        this.scheduleSteps = scheduleSteps;
        this.begin = begin;
        this.unetSteps = unetSteps;
    }

    /** Checks the second pass (size, sampler, schedule) before any work. */
    static HiresFixPass plan(StableDiffusionComponents c, GenerationRequest r, Scheduler firstPass, int width, int height) {
        HiresFix h = r.hires();
        int f = c.vaeScaleFactor();
        int w = h.targetSide(width, f);
        int hh = h.targetSide(height, f);
        if (w > GenerationRequest.MAX_SIDE || hh > GenerationRequest.MAX_SIDE) {
            throw new JDiffusionException("--hires-scale " + h.scale() + " makes " + w + "x" + hh + " from " + width + "x"
                    + height + ", above the size limit of " + GenerationRequest.MAX_SIDE + " pixels a side");
        }
        Scheduler s = h.sampler() == null ? firstPass : c.scheduler(h.sampler(), r.eta());
        int steps = h.steps() > 0 ? h.steps() : r.steps();
        int total = stretchedSteps(steps, h.denoisingStrength());
        int trainSteps = s.config().numTrainTimesteps();
        if (total > trainSteps) {
            throw new JDiffusionException("--denoising-strength " + h.denoisingStrength() + " with " + steps
                    + " hires steps stretches the schedule to " + total + " steps, more than the scheduler's "
                    + trainSteps + "; raise the strength or lower --hires-steps");
        }
        int begin = (total - steps) * s.order();
        int unetSteps = s.schedule(total).size() - begin;
        return new HiresFixPass(c, r, s, w, hh, total, begin, unetSteps);
    }

    /** A1111: {@code int(requested_steps / min(denoising_strength, 0.999))}. */
    static int stretchedSteps(int steps, double strength) {
        return (int) (steps / Math.min(strength, 0.999));
    }

    /** The stretched run: the last {@code steps} steps of {@link #stretchedSteps}, begin index set as img2img does. */
    SchedulerRun start() {
        return scheduler.newRun(scheduler.schedule(scheduleSteps), begin, true);
    }

    int width() { return width; }
    int height() { return height; }
    int steps() { return unetSteps; }

    String samplerName() {
        return Infotext.samplerName(scheduler);
    }

    /** The first pass's latents enlarged to the second pass's size ({@code [B, 4, h, w]} float32). */
    Tensor upscale(Tensor latents, TorchGenerator generator) {
        int f = components.vaeScaleFactor();
        if (hires.upscaler().isLatent()) {
            return Interpolation.resize(latents, height / f, width / f, hires.upscaler().mode(), hires.upscaler().antialias());
        }
        VAEImageCodec codec = components.codec();
        List<BufferedImage> images = new ArrayList<>();
        for (BufferedImage img : Images.fromTensor(codec.decode(latents, request.vaeTiling()))) {
            images.add(hires.upscaler() == HiresUpscaler.LANCZOS ? Resampling.resize(img, width, height, Resampling.Filter.LANCZOS)
                    : Resampling.nearest(img, width, height));
        }
        return codec.encode(Images.toTensor(images), generator, request.vaeTiling());
    }

    /**
     * The second pass's text states: {@code context} (the first pass's, for {@code prompt}) unless the
     * hires prompts differ. Encoded with the first pass's, before any denoising, so that the text
     * encoder's work is over before the UNet's starts.
     */
    Tensor states(String prompt, Tensor context, List<String> warnings) {
        String hiresPrompt = hires.prompt() == null ? prompt
                : StableDiffusionComponents.networks(request.toBuilder().prompt(hires.prompt()).hires(null).build(), warnings).prompt();
        String negative = hires.negativePrompt() == null ? request.negativePrompt() : hires.negativePrompt();
        return hiresPrompt.equals(prompt) && negative.equals(request.negativePrompt()) ? context
                : components.encodePrompts(request, hiresPrompt, negative, warnings);
    }

    /** Runs the second pass on the first pass's final {@code latents}, attending to {@code states} ({@link #states}). */
    Tensor run(Tensor latents, Tensor states, StepCallback callback, PointerScope owner) {
        TorchGenerator generator = new TorchGenerator(request.seed());
        Tensor init = upscale(latents, generator);
        SchedulerRun run = start();
        ImageToImageLatents inputs = ImageToImageLatents.prepare(init, run, generator, components.options().device());
        return new DenoisingLoop(components.unet(), states, null, request.guidanceScale(), request.deepCache()).run(run, inputs, generator, callback, owner);
    }

    /** {@code callback} seeing the steps of a pass as steps {@code offset...} of {@code total}. */
    static StepCallback offset(StepCallback callback, int offset, int total) {
        return (step, ignored, t, latents) -> callback.onStep(offset + step, total, t, latents);
    }
}
