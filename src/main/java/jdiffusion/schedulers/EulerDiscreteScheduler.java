package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerTensors.s;
import static jdiffusion.schedulers.NumpyMath.sqrt;

import jdiffusion.JDiffusionException;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers 0.31 {@code EulerDiscreteScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_euler_discrete.py">scheduling_euler_discrete.py</a>):
 * Algorithm 2 of Karras et al. (2022) with s_churn = 0, i.e. the plain Euler ODE step of k-diffusion.
 * Draws no random numbers (0.31 draws only when s_churn > 0, which the pipelines never pass).
 */
public record EulerDiscreteScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {
    public EulerDiscreteScheduler {
        Schedule.rejectUnsupportedSigmas(config, "EulerDiscreteScheduler");
        if (!config.interpolationType().equals("linear") && !config.interpolationType().equals("log_linear")) {
            throw new JDiffusionException("EulerDiscreteScheduler: interpolation_type must be linear or log_linear, got "
                    + config.interpolationType());
        }
        if (!config.timestepType().equals("discrete") && !config.timestepType().equals("continuous")) {
            throw new JDiffusionException("EulerDiscreteScheduler: timestep_type must be discrete or continuous, got "
                    + config.timestepType());
        }
        Schedule.finalSigma(config, tables);   // validates final_sigmas_type
    }

    EulerDiscreteScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, true));
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        // timesteps are float32 in numpy already ("linspace" with dtype=np.float32)
        double[] timesteps = NumpyMath.toFloat32(Schedule.spacedTimesteps(config, steps));
        float[] train = tables.trainingSigmas();
        double[] sigmas = config.interpolationType().equals("linear")
                ? Schedule.interpolatedSigmas(timesteps, train)
                : logLinearSigmas(train, steps);
        if (config.useKarrasSigmas()) {
            double min = config.sigmaMin() != null ? config.sigmaMin() : sigmas[sigmas.length - 1];
            double max = config.sigmaMax() != null ? config.sigmaMax() : sigmas[0];
            sigmas = Schedule.karras(min, max, train, timesteps);
        }
        float[] all = new float[sigmas.length + 1];
        for (int i = 0; i < sigmas.length; i++) all[i] = (float) sigmas[i];
        all[sigmas.length] = Schedule.finalSigma(config, tables);
        if (config.timestepType().equals("continuous") && config.predictionType() == PredictionType.V_PREDICTION) {
            // EDM-style conditioning: the UNet gets 0.25 * log(sigma)
            for (int i = 0; i < steps; i++) timesteps[i] = 0.25f * (float) Math.log(all[i]);
        }
        return new Schedule(steps, timesteps, false, all, Schedule.initNoiseSigma(all, config.timestepSpacing()));
    }

    /** interpolation_type "log_linear": torch.linspace(log sigma_min, log sigma_max, n + 1).exp(), in float32. */
    private static double[] logLinearSigmas(float[] train, int steps) {
        try (PointerScope ignored = new PointerScope()) {
            Tensor t = torch.linspace(new Scalar(Math.log(train[train.length - 1])), new Scalar(Math.log(train[0])),
                    steps + 1, new TensorOptions(ScalarType.Float)).exp();
            float[] f = jdiffusion.tensor.Tensors.toFloats(t);
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) d[i] = f[i];
            return d;
        }
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** An Euler run; stateless apart from the step index. */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(EulerDiscreteScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        public Tensor scaleModelInput(Tensor sample) {
            return sigmaScaledInput(sample);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            sample = sample.to(ScalarType.Float);
            float sigma = schedule.sigma(stepIndex);
            float sigmaHat = sigma;   // sigma * (gamma + 1) with gamma = 0 (no churn)
            // 1. predicted x0 from the sigma-scaled prediction
            Tensor x0 = SchedulerTensors.sigmaX0(config.predictionType(), modelOutput, sample, sigmaHat);
            // 2. ODE derivative and Euler step
            Tensor derivative = sample.sub(x0).div(s(sigmaHat));
            float dt = schedule.sigma(stepIndex + 1) - sigmaHat;
            Tensor prev = sample.add(derivative.mul(s(dt))).to(modelOutput.scalar_type());
            return new StepOutput(prev, x0);
        }

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return sigmaAddNoise(original, noise, timesteps);
        }

        /**
         * diffusers 0.31 has this for Euler (used for EDM training): alphas_cumprod indexed by the POSITION
         * of each timestep in the schedule, not by the timestep itself. Kept as is.
         */
        @Override
        public Tensor getVelocity(Tensor sample, Tensor noise, Tensor timesteps) {
            double[] ts = SchedulerTensors.values(timesteps);
            int[] idx = new int[ts.length];
            for (int i = 0; i < ts.length; i++) idx[i] = indexOrFail(ts[i]);
            return tables.velocity(sample, noise, idx);
        }
    }
}
