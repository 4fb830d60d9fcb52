package jdiffusion.pipelines;

import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Text-to-image: the loop starts from noise. */
record TextToImageLatents(Tensor latents) implements LatentInputs {
    /** ONE randn of {@code shape} for the whole batch (diffusers' randn_tensor), scaled to the scheduler's initial sigma. */
    static TextToImageLatents prepare(long[] shape, SchedulerRun steps, TorchGenerator generator, Device device) {
        Tensor latents = generator.randn(shape).mul(new Scalar(steps.initNoiseSigma()));
        return new TextToImageLatents(latents.to(device, ScalarType.Float));
    }
}
