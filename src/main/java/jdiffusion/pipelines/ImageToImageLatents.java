package jdiffusion.pipelines;

import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Image-to-image (diffusers' prepare_latents of StableDiffusionImg2ImgPipeline): the init latents
 * noised to the run's first timestep, which {@code strength} chose.
 *
 * @param initLatents {@code [B, 4, h, w]} the encoded image (x scaling factor), or any latents (hires fix)
 * @param noise       the randn drawn after the encoding
 */
record ImageToImageLatents(Tensor initLatents, Tensor noise, Tensor latents) implements LatentInputs {
    static ImageToImageLatents prepare(Tensor initLatents, SchedulerRun steps, TorchGenerator generator, Device device) {
        Tensor noise = generator.randn(Tensors.shape(initLatents)).to(device, ScalarType.Float);
        Tensor latentTimestep = steps.timestep(0).reshape(1).repeat(initLatents.size(0));
        return new ImageToImageLatents(initLatents, noise, steps.addNoise(initLatents, noise, latentTimestep));
    }
}
