package jdiffusion.training;

import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The latent diffusion loss of diffusers' train_text_to_image.py: noise at a uniformly drawn
 * timestep (DDPM {@code add_noise}), the UNet conditioned on the text encoder's
 * last_hidden_state, and the MSE to the noise (epsilon) or to the velocity (v-prediction).
 * The text encoder is trained with the UNet when {@code trainTextEncoder}, else run frozen.
 */
public final class LatentDiffusionObjective {
    private final UNet2DConditionModel unet;
    private final CLIPTextModel textEncoder;
    private final boolean trainTextEncoder;
    private final DDPMScheduler noiseScheduler;
    private final PredictionType prediction;
    private final double snrGamma;

    public LatentDiffusionObjective(UNet2DConditionModel unet, CLIPTextModel textEncoder, boolean trainTextEncoder,
                                    DDPMScheduler noiseScheduler, PredictionType prediction) {
        this(unet, textEncoder, trainTextEncoder, noiseScheduler, prediction, 0);
    }

    private LatentDiffusionObjective(UNet2DConditionModel unet, CLIPTextModel textEncoder, boolean trainTextEncoder,
                                     DDPMScheduler noiseScheduler, PredictionType prediction, double snrGamma) {
        if (prediction == PredictionType.SAMPLE) {
            // train_text_to_image.py raises "Unknown prediction type" for anything else
            throw new JDiffusionException("the latent diffusion objective trains epsilon or v_prediction, not sample");
        }
        this.unet = unet;
        this.textEncoder = textEncoder;
        this.trainTextEncoder = trainTextEncoder;
        this.noiseScheduler = noiseScheduler;
        this.prediction = prediction;
        this.snrGamma = snrGamma;
    }

    /**
     * The same objective with {@link MinSnrWeighting} (train_text_to_image.py's {@code --snr_gamma});
     * converges several times faster; 0 turns it off.
     */
    public LatentDiffusionObjective withSnrGamma(double gamma) {
        return new LatentDiffusionObjective(unet, textEncoder, trainTextEncoder, noiseScheduler, prediction,
                MinSnrWeighting.checkGamma(gamma));
    }

    /**
     * The loss for one batch. {@code latents} [B, 4, h, w] are VAE latents already multiplied by
     * the scaling factor; {@code inputIds} [B, 77] the tokenized captions (caption dropout, if
     * any, already applied). Noise and timesteps come from {@code rng}.
     */
    public Tensor loss(Tensor latents, Tensor inputIds, TorchGenerator rng) {
        long batch = latents.size(0);
        int trainSteps = noiseScheduler.config().numTrainTimesteps();
        // 1. noise and timesteps, drawn in a fixed order from the step's generator
        Tensor noise = rng.randn(latents.sizes().vec().get());
        Tensor timesteps = rng.randint(0, trainSteps, batch);
        Tensor noisy = noiseScheduler.addNoise(latents, noise, timesteps);
        Tensor target = prediction == PredictionType.EPSILON ? noise : noiseScheduler.getVelocity(latents, noise, timesteps);
        // 2. text conditioning
        Tensor context;
        if (trainTextEncoder) {
            context = textEncoder.encodeForTraining(inputIds);
        } else {
            context = textEncoder.encode(inputIds);
        }
        // 3. prediction and loss, in float32 whatever the autocast dtype
        Tensor pred = unet.forward(noisy, timesteps, context).to(ScalarType.Float);
        if (snrGamma == 0) return torch.mse_loss(pred, target);
        return MinSnrWeighting.loss(pred, target, snrWeights(timesteps));
    }

    /** diffusers' compute_snr and the Min-SNR weights for {@code timesteps} [B]: float32 [B]. */
    Tensor snrWeights(Tensor timesteps) {
        return MinSnrWeighting.weights(noiseScheduler, timesteps, snrGamma, prediction != PredictionType.EPSILON);
    }

    /**
     * Replaces each row of {@code inputIds} [B, T] by {@code emptyIds} [T] with probability
     * {@code p} (caption dropout, so that the model also learns the unconditional prediction that
     * classifier-free guidance needs). One {@code rand(B)} draw from {@code rng}.
     */
    public static Tensor dropCaptions(Tensor inputIds, Tensor emptyIds, double p, TorchGenerator rng) {
        if (p <= 0) return inputIds;
        long batch = inputIds.size(0);
        Tensor drop = rng.rand(batch).lt(new Scalar(p)).unsqueeze(1);            // [B, 1] bool
        return torch.where(drop, emptyIds.unsqueeze(0).expand(inputIds.sizes().vec().get()), inputIds);
    }

}
