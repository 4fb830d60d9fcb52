package jdiffusion.pipelines;

import jdiffusion.models.unet.DeepCache;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Step 7 of every diffusers Stable Diffusion pipeline, written once: per timestep, the latents
 * (doubled for guidance), {@code scale_model_input}, the mode's extra channels, one UNet call, the
 * guidance combine, the scheduler step, the mode's after-step fix-up and the callback.
 *
 * @param context     {@code [2B or B, M, D]} text states, {@code [uncond; cond]} when guidance is on
 * @param classLabels {@code [2B or B]} the UNet's class labels (the upscaler's noise level), or null
 * @param deepCache   DeepCache's interval (one full UNet call every N steps, the shallow path in
 *                    between; see {@link DeepCache}), or 0 for every call full
 */
record DenoisingLoop(UNet2DConditionModel unet, Tensor context, Tensor classLabels, double guidanceScale, int deepCache) {

    DenoisingLoop(UNet2DConditionModel unet, Tensor context, Tensor classLabels, double guidanceScale) {
        this(unet, context, classLabels, guidanceScale, 0);
    }

    /**
     * Runs every step of {@code steps} from {@code inputs.latents()}; returns the final latents
     * (float32), owned by {@code owner}, the caller's scope. Each step runs in a scope of its own.
     */
    Tensor run(SchedulerRun steps, LatentInputs inputs, TorchGenerator generator, StepCallback callback, PointerScope owner) {
        boolean guided = ClassifierFreeGuidance.isOn(guidanceScale);
        Tensor extra = inputs.extraChannels();
        if (extra != null && guided) extra = ClassifierFreeGuidance.batch(extra);
        Tensor latents = inputs.latents();
        try (DeepCache cache = deepCache > 0 ? new DeepCache(unet, deepCache) : null) {
            for (int i = 0; i < steps.size(); i++) {
                try (PointerScope step = new PointerScope()) {
                    Tensor t = steps.timestep(i);
                    Tensor input = steps.scaleModelInput(guided ? ClassifierFreeGuidance.batch(latents) : latents);
                    if (extra != null) input = torch.cat(new TensorVector(input, extra), 1);
                    Tensor prediction = cache == null ? unet.forward(input, t, context, classLabels)
                            : cache.forward(input, t, context, classLabels);
                    Tensor noise = prediction.to(ScalarType.Float);
                    if (guided) noise = ClassifierFreeGuidance.combine(noise, guidanceScale);
                    Tensor next = inputs.afterStep(steps.step(noise, latents, generator).prevSample(), steps, t);
                    Tensor replaced = callback.onStep(i, steps.size(), steps.timestepValue(i), next);
                    if (replaced != null) next = replaced.to(ScalarType.Float);
                    owner.attach(next);
                    // the previous step's latents (attached above one step earlier) are not needed any
                    // more: free them now, or a long run keeps every step's latents until it ends
                    if (i > 0) owner.detach(latents);
                    latents = next;
                }
                // the first UNet call leaves one-off buffers (oneDNN's first-call setup: ~0.26 GB for SD 1.5
                // at 512x512 in bf16) freed but held by glibc; handed back, later steps do not stack on them
                if (i == 0) NativeMemory.trim();
            }
        }
        steps.close();
        return inputs.finish(latents);
    }
}
