package jdiffusion.pipelines;

import java.nio.file.Path;
import java.util.Map;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.Scheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers pipelines/ddpm/pipeline_ddpm.py {@code DDPMPipeline}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/pipelines/ddpm/pipeline_ddpm.py):
 * ancestral sampling of a pixel-space UNet; the same seed gives diffusers' images.
 *
 * <pre>{@code
 * try (var pipe = DDPMPipeline.fromPretrained(Path.of("ddpm-cifar10-32"))) {
 *     PixelResult out = pipe.call(PixelRequest.of(8, 1000, 42)); // out.images() [8, 32, 32, 3] in [0, 1]
 * }
 * }</pre>
 */
public final class DDPMPipeline implements AutoCloseable {
    private final PixelDenoiser unet;
    private final DDPMScheduler scheduler;

    public DDPMPipeline(PixelDenoiser unet, DDPMScheduler scheduler) {
        this.unet = unet;
        this.scheduler = scheduler;
    }

    /** A pipeline folder ({@code unet/}, {@code scheduler/}), float32 on the CPU; the scheduler becomes a DDPMScheduler. */
    public static DDPMPipeline fromPretrained(Path folder) {
        PixelDenoiser unet = PixelDenoiser.load(folder.resolve("unet"), ScalarType.Float, Tensors.CPU);
        return new DDPMPipeline(unet, (DDPMScheduler) scheduler(folder, "DDPMScheduler"));
    }

    /** {@code <name>.from_config(folder/scheduler/scheduler_config.json)}: explicit keys carry over (Pitfall 18). */
    static Scheduler scheduler(Path folder, String name) {
        SchedulerConfigFile file = SchedulerConfigFile.read(folder.resolve("scheduler").resolve("scheduler_config.json"));
        return Schedulers.create(name, file, Map.of());
    }

    public PixelDenoiser unet() {
        return unet;
    }

    public DDPMScheduler scheduler() {
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
