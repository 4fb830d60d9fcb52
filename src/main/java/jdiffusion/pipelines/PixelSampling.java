package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.nn.Functional;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.schedulers.StepOutput;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * The denoising loop DDPMPipeline and DDIMPipeline share
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/pipelines/ddpm/pipeline_ddpm.py),
 * with the course's guided variant. Everything random comes from one generator seeded by the
 * request, in diffusers' order: the initial noise, then whatever the scheduler draws per step.
 */
final class PixelSampling {
    private PixelSampling() {}

    static PixelResult run(PixelDenoiser unet, Scheduler scheduler, PixelRequest request, StepCallback callback) {
        Tensor labels = classLabels(unet, request);
        double scale = request.guidanceScale();
        if (scale != 1 && !unet.learnsNoClass()) {
            throw new JDiffusionException("--guidance-scale needs a class-conditioned model that learned \"no class\" "
                    + "(train-class-conditioned --class-dropout); this one has no such input");
        }
        int channels = unet.imageChannels();
        int height = unet.sampleSize().get(0), width = unet.sampleSize().get(1);
        TorchGenerator generator = new TorchGenerator(request.seed());
        float[] losses = new float[request.guidance() == null ? 0 : request.steps()];
        try (PointerScope outer = new PointerScope(); SchedulerRun run = scheduler.start(request.steps())) {
            // 1. the initial noise: one randn for the whole batch (golden Pitfall 7)
            Tensor initialNoise = generator.randn(request.batchSize(), channels, height, width);
            Tensor x = initialNoise;
            // 2. denoising loop
            for (int i = 0; i < run.size(); i++) {
                Tensor next;
                try (PointerScope step = new PointerScope()) {
                    Tensor t = run.currentTimestep();
                    next = request.guidance() == null
                            ? plainStep(unet, run, x, t, labels, scale, generator)
                            : guidedStep(unet, scheduler, run, i, x, t, labels, scale, generator, request.guidance(), losses);
                    Tensor replaced = callback.onStep(i, run.size(), run.timestepValue(i), next);
                    if (replaced != null) next = replaced;
                    outer.attach(next);
                }
                x = next;
            }
            // 3. (x / 2 + 0.5).clamp(0, 1), NHWC
            Tensor images = Functional.div(x, 2.0).add(new org.bytedeco.pytorch.Scalar(0.5))
                    .clamp(new ScalarOptional(new org.bytedeco.pytorch.Scalar(0.0)),
                            new ScalarOptional(new org.bytedeco.pytorch.Scalar(1.0)))
                    .permute(0, 2, 3, 1).contiguous();
            images.retainReference();
            initialNoise.retainReference();
            return new PixelResult(initialNoise, images, losses);
        }
    }

    private static Tensor plainStep(PixelDenoiser unet, SchedulerRun run, Tensor x, Tensor t, Tensor labels, double scale,
                                    TorchGenerator generator) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            Tensor noisePred = predictNoise(unet, run.scaleModelInput(x), t, labels, scale).to(x.scalar_type());
            return run.step(noisePred, x, generator).prevSample();
        }
    }

    /**
     * The course's loop: x0 = step(noise_pred, t, x).pred_original_sample; loss = loss(x0) * scale;
     * x = x - d loss / d x; x = step(noise_pred, t, x).prev_sample, with the same noise_pred.
     */
    private static Tensor guidedStep(PixelDenoiser unet, Scheduler scheduler, SchedulerRun run, int i, Tensor x, Tensor t,
                                     Tensor labels, double scale, TorchGenerator generator, PixelGuidance guidance,
                                     float[] losses) {
        Tensor xg = x.detach().requires_grad_(true);
        Tensor noisePred;
        if (guidance.gradThroughUnet()) {
            noisePred = predictNoise(unet, run.scaleModelInput(xg), t, labels, scale);
        } else {
            try (NoGradGuard noGrad = new NoGradGuard()) {
                noisePred = predictNoise(unet, run.scaleModelInput(x), t, labels, scale);
            }
        }
        // x0 of this step from a throwaway run at the same position (the real run advances once per step;
        // its generator must not see the probe's draws)
        Tensor x0;
        try (SchedulerRun probe = scheduler.newRun(run.schedule(), i, true)) {
            x0 = probe.step(noisePred, xg, new TorchGenerator(0)).predOriginalSample();
        }
        if (x0 == null) throw new JDiffusionException(scheduler.kind() + " gives no predicted x0 to guide with");
        Tensor loss = guidance.loss().apply(x0).mul(new org.bytedeco.pytorch.Scalar(guidance.scale()));
        losses[i] = loss.item_float();
        Tensor grad = torch.grad(new TensorVector(loss), new TensorVector(xg)).get(0); // d loss / d x only, no parameter grads
        try (NoGradGuard noGrad = new NoGradGuard()) {
            Tensor moved = x.sub(grad);
            return run.step(noisePred.detach(), moved, generator).prevSample();
        }
    }

    /**
     * The UNet's noise prediction; with classifier-free guidance (scale != 1) the "no class" and the class
     * halves of one doubled batch, combined by {@link ClassifierFreeGuidance} (below 1 too: 0 is the
     * unconditional prediction).
     */
    static Tensor predictNoise(PixelDenoiser unet, Tensor input, Tensor t, Tensor labels, double scale) {
        if (scale == 1) return unet.forward(input, t, labels);
        Tensor none = torch.full_like(labels, new org.bytedeco.pytorch.Scalar(PixelDenoiser.NO_CLASS));
        Tensor tt = t.numel() == 1 ? t : ClassifierFreeGuidance.batch(t);
        Tensor both = unet.forward(ClassifierFreeGuidance.batch(input), tt, Functional.cat(none, labels, 0));
        return ClassifierFreeGuidance.combine(both, scale);
    }

    private static Tensor classLabels(PixelDenoiser unet, PixelRequest request) {
        Integer label = request.classLabel();
        if (unet.numClasses() == 0) {
            if (label != null) throw new JDiffusionException("--class-label was given, but this model is not class-conditioned");
            return null;
        }
        if (label == null) {
            throw new JDiffusionException("this model is class-conditioned (" + unet.numClasses()
                    + " classes): give a class label (--class-label 0 to " + (unet.numClasses() - 1) + ")");
        }
        jdiffusion.models.unet2d.ClassLabels.check(new long[] {label}, unet.numClasses());
        long[] l = new long[request.batchSize()];
        java.util.Arrays.fill(l, label);
        return Tensors.fromLongs(l, l.length); // made outside the run's scopes: lives as long as the run
    }
}
