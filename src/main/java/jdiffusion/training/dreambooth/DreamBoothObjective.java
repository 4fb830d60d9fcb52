package jdiffusion.training.dreambooth;

import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.GradientCheckpointing;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The loss of one train_dreambooth.py step: the frozen VAE encodes the batch
 * ({@code latent_dist.sample() * scaling_factor}), noise at uniform timesteps (DDPM add_noise, no
 * offset noise), the UNet conditioned on the text encoder's last_hidden_state, and the MSE to the
 * scheduler's target (epsilon, or the velocity for v_prediction). With prior preservation the batch
 * is instances then class images and the loss is {@code mse(instance) + w * mse(class)}.
 * Random draws come from the step's generator in diffusers' order: latent sample, noise, timesteps.
 */
public final class DreamBoothObjective {
    private final UNet2DConditionModel unet;
    private final CLIPTextModel textEncoder;
    private final AutoencoderKL vae;
    private final DDPMScheduler noiseScheduler;
    private final PredictionType prediction;
    private final boolean trainTextEncoder;
    private final boolean priorPreservation;
    private final double priorLossWeight;

    public DreamBoothObjective(UNet2DConditionModel unet, CLIPTextModel textEncoder, AutoencoderKL vae,
                               DDPMScheduler noiseScheduler, boolean trainTextEncoder, boolean priorPreservation,
                               double priorLossWeight) {
        this.unet = unet;
        this.textEncoder = textEncoder;
        this.vae = vae;
        this.noiseScheduler = noiseScheduler;
        this.prediction = noiseScheduler.config().predictionType();
        if (prediction == PredictionType.SAMPLE) {
            // train_dreambooth.py raises "Unknown prediction type" for anything else
            throw new JDiffusionException("the model's scheduler predicts \"sample\"; DreamBooth "
                    + "trains epsilon or v_prediction models only");
        }
        this.trainTextEncoder = trainTextEncoder;
        this.priorPreservation = priorPreservation;
        this.priorLossWeight = priorLossWeight;
    }

    public PredictionType prediction() {
        return prediction;
    }

    /** The loss of {@code batch} with its graph (for {@code Trainer.Objective}). */
    public Tensor loss(DreamBoothDataset.Batch batch, TorchGenerator rng) {
        Inputs in = inputs(batch, rng);
        Tensor pred = unet.forward(in.noisy, in.timesteps, in.context);
        return lossOf(pred, in.target);
    }

    /**
     * The same loss with gradient checkpointing: the UNet keeps only its blocks' inputs and the
     * backward recomputes them (for {@code Trainer.BackwardObjective}). Returns the loss value.
     */
    public double lossAndBackward(DreamBoothDataset.Batch batch, TorchGenerator rng, double gradScale) {
        Inputs in = inputs(batch, rng);
        return GradientCheckpointing.forwardBackward(unet, in.noisy, in.timesteps, in.context,
                pred -> lossOf(pred, in.target), gradScale);
    }

    private record Inputs(Tensor noisy, Tensor timesteps, Tensor context, Tensor target) {}

    private Inputs inputs(DreamBoothDataset.Batch batch, TorchGenerator rng) {
        // 1. latents of the frozen VAE: a sample of the posterior, scaled
        Tensor latents;
        try (NoGradGuard noGrad = new NoGradGuard()) {
            latents = vae.encode(batch.pixels()).sample(rng).to(ScalarType.Float)
                    .mul(new Scalar(vae.scalingFactor()));                       // [N, 4, R/f, R/f]
        }
        // 2. noise and a uniform timestep per example
        Tensor noise = rng.randn(latents.sizes().vec().get());
        Tensor timesteps = rng.randint(0, noiseScheduler.config().numTrainTimesteps(), latents.size(0));
        Tensor noisy = noiseScheduler.addNoise(latents, noise, timesteps);
        Tensor target = prediction == PredictionType.EPSILON ? noise : noiseScheduler.getVelocity(latents, noise, timesteps);
        // 3. the text states: with a graph when the text encoder (or its adapters) trains
        Tensor context = trainTextEncoder ? textEncoder.encodeForTraining(batch.inputIds())
                : textEncoder.encode(batch.inputIds());                          // [N, 77, C]
        return new Inputs(noisy, timesteps, context, target);
    }

    private Tensor lossOf(Tensor pred, Tensor target) {
        Tensor p = pred.to(ScalarType.Float);                                     // the loss in float32, as .float()
        return priorPreservation ? priorPreservationLoss(p, target, priorLossWeight) : torch.mse_loss(p, target);
    }

    /**
     * {@code mse(pred_instance, target_instance) + weight * mse(pred_class, target_class)}, the
     * halves split as diffusers' {@code torch.chunk(x, 2, dim=0)}: instances first.
     */
    public static Tensor priorPreservationLoss(Tensor pred, Tensor target, double weight) {
        TensorVector p = pred.chunk(2, 0);
        TensorVector t = target.chunk(2, 0);
        Tensor instance = torch.mse_loss(p.get(0), t.get(0));
        Tensor prior = torch.mse_loss(p.get(1), t.get(1));
        return instance.add(prior.mul(new Scalar(weight)));
    }
}
