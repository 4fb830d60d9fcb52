package jdiffusion.pipelines;

import java.nio.file.Path;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers pipelines/ddim/pipeline_ddim.py {@code DDIMPipeline}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/pipelines/ddim/pipeline_ddim.py):
 * DDIM sampling of a pixel-space UNet in few steps; {@code eta} 0 is deterministic, 1 DDPM-like.
 * Like diffusers, it converts the folder's scheduler with {@code DDIMScheduler.from_config}, so a
 * DDPM folder gives set_alpha_to_one true (DDIM's default; golden Pitfall 26).
 *
 * <pre>{@code
 * try (var pipe = DDIMPipeline.fromPretrained(Path.of("ddpm-cifar10-32"), 0.0)) {
 *     PixelResult out = pipe.call(PixelRequest.of(8, 40, 42));
 * }
 * }</pre>
 */
public final class DDIMPipeline implements AutoCloseable {
    private final PixelDenoiser unet;
    private final DDIMScheduler scheduler;

    public DDIMPipeline(PixelDenoiser unet, DDIMScheduler scheduler) {
        this.unet = unet;
        this.scheduler = scheduler;
    }

    /** A pipeline folder ({@code unet/}, {@code scheduler/}), float32 on the CPU, sampling with {@code eta}. */
    public static DDIMPipeline fromPretrained(Path folder, double eta) {
        DDIMScheduler scheduler = ((DDIMScheduler) DDPMPipeline.scheduler(folder, "DDIMScheduler")).withEta(eta);
        return new DDIMPipeline(PixelDenoiser.load(folder.resolve("unet"), ScalarType.Float, Tensors.CPU), scheduler);
    }

    public PixelDenoiser unet() {
        return unet;
    }

    public DDIMScheduler scheduler() {
        return scheduler;
    }

    public PixelResult call(PixelRequest request) {
        return call(request, StepCallback.NONE);
    }

    /** Runs the request; {@code callback} sees the sample after every step. */
    public PixelResult call(PixelRequest request, StepCallback callback) {
        return PixelSampling.run(unet, scheduler, request, callback);
    }

    @Override
    public void close() {
        unet.close();
    }
}
