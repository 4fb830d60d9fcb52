package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerMath.s;
import static jdiffusion.schedulers.SchedulerMath.sqrt;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code LMSDiscreteScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_lms_discrete.py">scheduling_lms_discrete.py</a>):
 * k-diffusion's {@code sample_lms}, a linear multistep method of order up to 4 over the sigmas; keeps the
 * last four ODE derivatives.
 */
public final class LMSDiscreteScheduler implements Scheduler {
    private static final int ORDER = 4;   // the default `order` argument of step()

    private final SchedulerConfig config;
    private final TrainingTables tables;

    LMSDiscreteScheduler(SchedulerConfig config) {
        this.config = config;
        this.tables = TrainingTables.of(config, false);
        SchedulerMath.rejectUnsupportedSigmas(config, "LMSDiscreteScheduler");
    }

    @Override
    public SchedulerKind kind() {
        return SchedulerKind.LMS;
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
        // float64 timesteps here (cast to float32 only at the end)
        double[] timesteps = SchedulerMath.spacedTimesteps(
                config.timestepSpacing(), config.numTrainTimesteps(), steps, config.stepsOffset());
        float[] train = tables.trainingSigmas();
        double[] sigmas = new double[steps];
        for (int i = 0; i < steps; i++) sigmas[i] = SchedulerMath.interp(timesteps[i], train);
        if (config.useKarrasSigmas()) {
            float[] logTrain = SchedulerMath.logs(train);
            sigmas = SchedulerMath.karrasSigmas(sigmas[steps - 1], sigmas[0], steps);
            for (int i = 0; i < steps; i++) timesteps[i] = SchedulerMath.sigmaToT(sigmas[i], logTrain);
        }
        float[] all = new float[steps + 1];   // the last one is 0
        for (int i = 0; i < steps; i++) all[i] = (float) sigmas[i];
        return new Schedule(steps, SchedulerMath.toFloat32(timesteps), false, all,
                SchedulerMath.initNoiseSigma(all, config.timestepSpacing()));
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** An LMS run: the last {@value #ORDER} derivatives, newest last. */
    public final class Run extends SchedulerRun {
        private final List<Tensor> derivatives = new ArrayList<>();   // held

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
            float sigma = schedule.sigma(stepIndex);
            // 1. predicted x0
            Tensor x0 = switch (config.predictionType()) {
                case EPSILON -> sample.sub(modelOutput.mul(s(sigma)));
                case V_PREDICTION -> modelOutput.mul(s(-sigma / sqrt(sigma * sigma + 1f))).add(sample.div(s(sigma * sigma + 1f)));
                case SAMPLE -> modelOutput;
            };
            // 2. ODE derivative
            derivatives.add(SchedulerMath.hold(sample.sub(x0).div(s(sigma))));
            if (derivatives.size() > ORDER) SchedulerMath.release(derivatives.removeFirst());

            // 3. coefficients: diffusers bounds the order by the absolute step index, so a run that
            //    starts mid-schedule (img2img) uses the higher-order basis from its first step
            int order = Math.min(stepIndex + 1, ORDER);
            float[] sigmas = schedule.sigmas();
            // 4. prev = sample + sum(coeff_k * derivative_{newest - k}); zip stops at the shorter list
            Tensor sum = null;
            for (int k = 0; k < Math.min(order, derivatives.size()); k++) {
                float coeff = (float) SchedulerMath.lmsCoefficient(sigmas, order, stepIndex, k);
                Tensor term = derivatives.get(derivatives.size() - 1 - k).mul(s(coeff));
                sum = sum == null ? term : sum.add(term);
            }
            return new StepOutput(sample.add(sum), x0);
        }

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return SchedulerMath.sigmaAddNoise(schedule, sigmaIndices(timesteps), original, noise);
        }

        @Override
        String schedulerName() {
            return "LMSDiscreteScheduler";
        }

        @Override
        int heldCount() {
            return derivatives.size();
        }

        @Override
        void releaseState() {
            derivatives.forEach(SchedulerMath::release);
            derivatives.clear();
        }
    }
}
