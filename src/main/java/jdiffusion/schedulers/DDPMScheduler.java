package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerTensors.s;
import static jdiffusion.schedulers.NumpyMath.sqrt;

import java.util.Objects;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code DDPMScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_ddpm.py">scheduling_ddpm.py</a>):
 * ancestral sampling of Ho et al. (2020), and the noise schedule used to train SD (add_noise, get_velocity).
 */
public record DDPMScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {

    public DDPMScheduler {
        String vt = config.varianceType();
        if (!"fixed_small".equals(vt) && !"fixed_small_log".equals(vt) && !"fixed_large".equals(vt)) {
            throw new JDiffusionException("DDPMScheduler: variance_type '" + vt
                    + "' is not supported; use fixed_small, fixed_small_log or fixed_large");
        }
        if (config.thresholding()) {
            throw new JDiffusionException("DDPMScheduler: thresholding is not supported (it is for pixel-space models)");
        }
    }

    DDPMScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, false));
    }

    @Override
    public Schedule schedule(int steps) {
        return Schedule.alphaSpaced(config, steps);
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** {@code add_noise} (training and img2img): sqrt(a_t) x0 + sqrt(1 - a_t) noise; no schedule needed. */
    public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
        return tables.addNoise(original, noise, timesteps);
    }

    /** {@code get_velocity}: sqrt(a_t) noise - sqrt(1 - a_t) x0, the v-prediction training target. */
    public Tensor getVelocity(Tensor sample, Tensor noise, Tensor timesteps) {
        return tables.velocity(sample, noise, timesteps);
    }

    /** A DDPM run; stateless apart from the step index. */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(DDPMScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            int t = (int) schedule.timestep(stepIndex);
            // 0.31 steps back by num_train_timesteps // n whatever the spacing
            int prevT = t - config.numTrainTimesteps() / schedule.numInferenceSteps();

            // 1. alphas and betas (0-dim float32 tensors in diffusers)
            float alphaProdT = tables.alphaAt(t);
            float alphaProdTPrev = prevT >= 0 ? tables.alphaAt(prevT) : 1f;
            float betaProdT = 1f - alphaProdT;
            float betaProdTPrev = 1f - alphaProdTPrev;
            float currentAlphaT = alphaProdT / alphaProdTPrev;
            float currentBetaT = 1f - currentAlphaT;

            // 2. predicted x0 (formula (15) of Ho et al.)
            Tensor x0 = AlphaPrediction.of(config.predictionType(), modelOutput, sample, alphaProdT).x0();
            // 3. clip
            if (config.clipSample()) {
                float r = (float) config.clipSampleRange();
                x0 = x0.clamp(new ScalarOptional(s(-r)), new ScalarOptional(s(r)));
            }
            // 4-5. mean of q(x_{t-1} | x_t, x0), formula (7)
            float x0Coeff = sqrt(alphaProdTPrev) * currentBetaT / betaProdT;
            float sampleCoeff = sqrt(currentAlphaT) * betaProdTPrev / betaProdT;
            Tensor prev = x0.mul(s(x0Coeff)).add(sample.mul(s(sampleCoeff)));

            // 6. noise: drawn at every t > 0, including the last step t = 1 (variance clamped to 1e-20)
            if (t > 0) {
                Objects.requireNonNull(generator, "DDPM draws noise at every step: pass a generator");
                Tensor noise = generator.randn(Tensors.shape(modelOutput)).to(modelOutput.device(), modelOutput.scalar_type());
                float variance = Math.max((1f - alphaProdTPrev) / (1f - alphaProdT) * currentBetaT, 1e-20f);
                float std = switch (config.varianceType()) {
                    case "fixed_small" -> sqrt(variance);
                    case "fixed_small_log" -> (float) Math.exp(0.5f * (float) Math.log(variance));
                    default -> sqrt(currentBetaT);   // fixed_large
                };
                prev = prev.add(noise.mul(s(std)));
            }
            return new StepOutput(prev, x0);
        }
    }
}
