package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerMath.s;
import static jdiffusion.schedulers.SchedulerMath.sqrt;

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
public final class EulerAncestralDiscreteScheduler implements Scheduler {
    private final SchedulerConfig config;
    private final TrainingTables tables;

    EulerAncestralDiscreteScheduler(SchedulerConfig config) {
        this.config = config;
        this.tables = TrainingTables.of(config, true);
        if (config.predictionType() == SchedulerConfig.PredictionType.SAMPLE) {
            throw new JDiffusionException("EulerAncestralDiscreteScheduler supports prediction_type epsilon and v_prediction only");
        }
    }

    @Override
    public SchedulerKind kind() {
        return SchedulerKind.EULER_ANCESTRAL;
    }

    @Override
    public SchedulerConfig config() {
        return config;
    }

    @Override
    public float[] betas() {
        return tables.betas().clone();
    }

    @Override
    public float[] alphasCumprod() {
        return tables.alphasCumprod().clone();
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        double[] timesteps = SchedulerMath.toFloat32(SchedulerMath.spacedTimesteps(
                config.timestepSpacing(), config.numTrainTimesteps(), steps, config.stepsOffset()));
        float[] train = tables.trainingSigmas();
        float[] sigmas = new float[steps + 1];   // the last one is 0
        for (int i = 0; i < steps; i++) sigmas[i] = (float) SchedulerMath.interp(timesteps[i], train);
        return new Schedule(steps, timesteps, false, sigmas, SchedulerMath.initNoiseSigma(sigmas, config.timestepSpacing()));
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** An Euler a run; stateless apart from the step index (the noise comes from the caller's generator). */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(schedule, beginIndex, beginIndexSet);
        }

        @Override
        public Tensor scaleModelInput(Tensor sample) {
            checkNotFinished();
            float sigma = schedule.sigma(stepIndex);
            return sample.div(s(sqrt(sigma * sigma + 1f)));
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            Objects.requireNonNull(generator, "Euler a draws noise at every step: pass a generator");
            sample = sample.to(ScalarType.Float);
            float sigma = schedule.sigma(stepIndex);
            // 1. predicted x0
            Tensor x0 = config.predictionType() == SchedulerConfig.PredictionType.EPSILON
                    ? sample.sub(modelOutput.mul(s(sigma)))
                    : modelOutput.mul(s(-sigma / sqrt(sigma * sigma + 1f))).add(sample.div(s(sigma * sigma + 1f)));
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
            return SchedulerMath.sigmaAddNoise(schedule, sigmaIndices(timesteps), original, noise);
        }

        @Override
        String schedulerName() {
            return "EulerAncestralDiscreteScheduler";
        }

        @Override
        void releaseState() {}
    }
}
