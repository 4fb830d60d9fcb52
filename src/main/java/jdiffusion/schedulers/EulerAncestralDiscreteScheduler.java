package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerTensors.s;
import static jdiffusion.schedulers.NumpyMath.sqrt;

import java.util.Objects;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers 0.31 {@code EulerAncestralDiscreteScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_euler_ancestral_discrete.py">scheduling_euler_ancestral_discrete.py</a>):
 * k-diffusion's {@code sample_euler_ancestral} ("Euler a"): an Euler step down to sigma_down, then fresh
 * noise of size sigma_up; one randn of the sample's shape per step, the last step included.
 */
public record EulerAncestralDiscreteScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {
    public EulerAncestralDiscreteScheduler {
        if (config.predictionType() == PredictionType.SAMPLE) {
            throw new JDiffusionException("EulerAncestralDiscreteScheduler supports prediction_type epsilon and v_prediction only");
        }
    }

    EulerAncestralDiscreteScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, true));
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        double[] timesteps = NumpyMath.toFloat32(Schedule.spacedTimesteps(config, steps));
        double[] sigmas = Schedule.interpolatedSigmas(timesteps, tables.trainingSigmas());
        return Schedule.sigmaSpaced(steps, timesteps, sigmas, 0f, config.timestepSpacing());
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** An Euler a run; stateless apart from the step index (the noise comes from the caller's generator). */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(EulerAncestralDiscreteScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        public Tensor scaleModelInput(Tensor sample) {
            return sigmaScaledInput(sample);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            Objects.requireNonNull(generator, "Euler a draws noise at every step: pass a generator");
            sample = sample.to(ScalarType.Float);
            float sigma = schedule.sigma(stepIndex);
            // 1. predicted x0
            Tensor x0 = SchedulerTensors.sigmaX0(config.predictionType(), modelOutput, sample, sigma);
            // 2. split the step to sigma_to into a deterministic part (to sigma_down) and noise (sigma_up)
            float from = sigma;
            float to = schedule.sigma(stepIndex + 1);
            float sigmaUp = sqrt(to * to * (from * from - to * to) / (from * from));
            float sigmaDown = sqrt(to * to - sigmaUp * sigmaUp);
            Tensor derivative = sample.sub(x0).div(s(sigma));
            float dt = sigmaDown - sigma;
            Tensor prev = sample.add(derivative.mul(s(dt)));
            Tensor noise = generator.randn(Tensors.shape(modelOutput)).to(modelOutput.device(), modelOutput.scalar_type());
            prev = prev.add(noise.mul(s(sigmaUp))).to(modelOutput.scalar_type());
            return new StepOutput(prev, x0);
        }

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return sigmaAddNoise(original, noise, timesteps);
        }
    }
}
