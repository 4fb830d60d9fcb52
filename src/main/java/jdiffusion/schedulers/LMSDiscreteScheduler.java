package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerTensors.s;
import static jdiffusion.schedulers.NumpyMath.sqrt;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code LMSDiscreteScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_lms_discrete.py">scheduling_lms_discrete.py</a>):
 * k-diffusion's {@code sample_lms}, a linear multistep method of order up to 4 over the sigmas; keeps the
 * last four ODE derivatives.
 */
public record LMSDiscreteScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {
    private static final int ORDER = 4;   // the default `order` argument of step()

    public LMSDiscreteScheduler {
        Schedule.rejectUnsupportedSigmas(config, "LMSDiscreteScheduler");
    }

    LMSDiscreteScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, false));
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        // float64 timesteps here (cast to float32 only at the end)
        double[] timesteps = Schedule.spacedTimesteps(config, steps);
        float[] train = tables.trainingSigmas();
        double[] sigmas = Schedule.interpolatedSigmas(timesteps, train);
        if (config.useKarrasSigmas()) sigmas = Schedule.karras(sigmas[steps - 1], sigmas[0], train, timesteps);
        return Schedule.sigmaSpaced(steps, timesteps, sigmas, 0f, config.timestepSpacing());
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** An LMS run: the last {@value #ORDER} derivatives, newest last. */
    public final class Run extends SchedulerRun {
        private final List<Tensor> derivatives = new ArrayList<>();   // held

        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(LMSDiscreteScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        public Tensor scaleModelInput(Tensor sample) {
            return sigmaScaledInput(sample);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            float sigma = schedule.sigma(stepIndex);
            // 1. predicted x0
            Tensor x0 = SchedulerTensors.sigmaX0(config.predictionType(), modelOutput, sample, sigma);
            // 2. ODE derivative
            derivatives.add(SchedulerTensors.hold(sample.sub(x0).div(s(sigma))));
            if (derivatives.size() > ORDER) SchedulerTensors.release(derivatives.removeFirst());

            // 3. coefficients: diffusers bounds the order by the absolute step index, so a run that
            //    starts mid-schedule (img2img) uses the higher-order basis from its first step
            int order = Math.min(stepIndex + 1, ORDER);
            float[] sigmas = schedule.sigmas();
            // 4. prev = sample + sum(coeff_k * derivative_{newest - k}); zip stops at the shorter list
            Tensor sum = null;
            for (int k = 0; k < Math.min(order, derivatives.size()); k++) {
                float coeff = (float) NumpyMath.lmsCoefficient(sigmas, order, stepIndex, k);
                Tensor term = derivatives.get(derivatives.size() - 1 - k).mul(s(coeff));
                sum = sum == null ? term : sum.add(term);
            }
            return new StepOutput(sample.add(sum), x0);
        }

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return sigmaAddNoise(original, noise, timesteps);
        }

        @Override
        int heldCount() {
            return derivatives.size();
        }

        @Override
        void releaseState() {
            derivatives.forEach(SchedulerTensors::release);
            derivatives.clear();
        }
    }
}
