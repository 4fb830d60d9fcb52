package jdiffusion.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import jdiffusion.Golden;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.prompts.PromptOptions;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;

/**
 * The course's "guidance with an extra loss" (its blue loss), written against the public API: the
 * gradient of a loss on the decoded x0 estimate steers the latents, so the image gets bluer.
 */
class GuidanceWithExtraLossTest {
    /** How far the image is from pure blue in its blue channel: mean |b - 0.9|, as the course's blue_loss. */
    static Tensor blueLoss(Tensor images01) {
        return images01.narrow(1, 2, 1).sub(new Scalar(0.9)).abs().mean();
    }

    static double generate(StableDiffusionPipeline pipe, double blueScale) {
        try (var scope = new PointerScope()) {
            Tensor context;
            try (var noGrad = new NoGradGuard()) {
                context = pipe.promptEncoder().encodePair("a red circle", "", PromptOptions.DIFFUSERS).guidanceBatch();
            }
            SchedulerRun run = pipe.scheduler("Euler", 0).start(10);
            TorchGenerator generator = new TorchGenerator(7);
            Tensor latents = generator.randn(1, 4, 8, 8).mul(new Scalar(run.initNoiseSigma()));
            float[] sigmas = run.schedule().sigmas();
            for (int i = 0; i < run.size(); i++) {
                Tensor guided;
                try (var noGrad = new NoGradGuard()) {
                    Tensor input = run.scaleModelInput(torch.cat(new TensorVector(latents, latents), 0));
                    TensorVector noise = pipe.unet().forward(input, run.timestep(i), context).chunk(2, 0);
                    guided = noise.get(0).add(noise.get(1).sub(noise.get(0)).mul(new Scalar(7.5)));
                }
                if (blueScale > 0) {
                    // the x0 estimate, decoded with gradients on, and one step down the loss's slope
                    double sigma = sigmas[i];
                    Tensor x = latents.detach().requires_grad_(true);
                    Tensor x0 = x.sub(guided.mul(new Scalar(sigma)));
                    Tensor image = pipe.vae().decode(x0.div(new Scalar(pipe.vae().scalingFactor())))
                            .div(new Scalar(2)).add(new Scalar(0.5));
                    Tensor loss = blueLoss(image).mul(new Scalar(blueScale));
                    Tensor grad = torch.grad(new TensorVector(loss), new TensorVector(x)).get(0);
                    latents = x.detach().sub(grad.mul(new Scalar(sigma * sigma)));
                }
                try (var noGrad = new NoGradGuard()) {
                    latents = run.step(guided, latents, generator).prevSample();
                }
            }
            try (var noGrad = new NoGradGuard()) {
                Tensor image = pipe.vae().decode(latents.div(new Scalar(pipe.vae().scalingFactor())))
                        .div(new Scalar(2)).add(new Scalar(0.5)).clamp(new org.bytedeco.pytorch.ScalarOptional(new Scalar(0)), new org.bytedeco.pytorch.ScalarOptional(new Scalar(1)));
                return blueLoss(image).item_double();
            }
        }
    }

    @Test
    void theBlueLossMakesTheImageBluer() {
        StableDiffusionPipeline pipe = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(),
                PipelineOptions.defaults());
        double plain = generate(pipe, 0);
        double guided = generate(pipe, 5000);
        System.out.printf("blue loss: %.4f without guidance, %.4f with%n", plain, guided);
        assertTrue(guided < plain * 0.95, "the extra loss must steer the image: " + plain + " -> " + guided);
        pipe.close();
    }
}
