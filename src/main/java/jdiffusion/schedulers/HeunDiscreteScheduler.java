package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerTensors.s;
import static jdiffusion.schedulers.NumpyMath.sqrt;

import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code HeunDiscreteScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_heun_discrete.py">scheduling_heun_discrete.py</a>):
 * Algorithm 1 of Karras et al. (2022), k-diffusion's {@code sample_heun}. Every timestep but the first is
 * listed twice (2N - 1 step calls): an Euler predictor, then the trapezoidal corrector from the same
 * starting sample. The last step, to sigma 0, is a plain Euler step.
 */
public record HeunDiscreteScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {
    public HeunDiscreteScheduler {
        Schedule.rejectUnsupportedSigmas(config, "HeunDiscreteScheduler");
    }

    HeunDiscreteScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, false));
    }

    @Override
    public int order() {
        return 2;
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        double[] t = NumpyMath.toFloat32(Schedule.spacedTimesteps(config, steps));
        float[] train = tables.trainingSigmas();
        double[] sigmas = Schedule.interpolatedSigmas(t, train);
        if (config.useKarrasSigmas()) sigmas = Schedule.karras(sigmas[steps - 1], sigmas[0], train, t);
        // [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0] and [t0, t1, t1, ..., t_{n-1}, t_{n-1}]
        float[] all = new float[2 * steps];
        double[] timesteps = new double[2 * steps - 1];
        all[0] = (float) sigmas[0];
        timesteps[0] = t[0];
        for (int i = 1; i < steps; i++) {
            all[2 * i - 1] = all[2 * i] = (float) sigmas[i];
            timesteps[2 * i - 1] = timesteps[2 * i] = t[i];
        }
        all[2 * steps - 1] = 0f;
        return new Schedule(steps, timesteps, false, all, Schedule.initNoiseSigma(all, config.timestepSpacing()));
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** A Heun run: between the predictor and the corrector it keeps the derivative, dt and the sample. */
    public final class Run extends SchedulerRun {
        private Tensor prevDerivative;   // held; null = next step is a first-order (predictor) step
        private Tensor firstSample;      // held
        private float dt;

        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(HeunDiscreteScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        private boolean firstOrder() {
            return prevDerivative == null;
        }

        @Override
        public Tensor scaleModelInput(Tensor sample) {
            return sigmaScaledInput(sample);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            boolean first = firstOrder();
            float sigma = first ? schedule.sigma(stepIndex) : schedule.sigma(stepIndex - 1);
            float sigmaNext = first ? schedule.sigma(stepIndex + 1) : schedule.sigma(stepIndex);
            float sigmaHat = sigma;   // gamma = 0: the only value diffusers supports
            // 1. predicted x0; the corrector evaluates the model at sigma_next
            float sigmaInput = first ? sigmaHat : sigmaNext;
            Tensor x0 = SchedulerTensors.sigmaX0(config.predictionType(), modelOutput, sample, sigmaInput);
            if (config.clipSample()) {
                float r = (float) config.clipSampleRange();
                x0 = x0.clamp(new ScalarOptional(s(-r)), new ScalarOptional(s(r)));
            }
            Tensor prev;
            if (first) {
                // 2-3. Euler predictor; remember where it started
                Tensor derivative = sample.sub(x0).div(s(sigmaHat));
                dt = sigmaNext - sigmaHat;
                prevDerivative = SchedulerTensors.hold(derivative);
                firstSample = SchedulerTensors.hold(sample);
                prev = sample.add(derivative.mul(s(dt)));
            } else {
                // 2-3. corrector: average of both slopes, applied from the predictor's starting sample
                Tensor derivative = sample.sub(x0).div(s(sigmaNext));
                derivative = prevDerivative.add(derivative).div(s(2f));
                prev = firstSample.add(derivative.mul(s(dt)));
                releaseState();
            }
            return new StepOutput(prev, x0);
        }

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return sigmaAddNoise(original, noise, timesteps);
        }

        @Override
        int heldCount() {
            return (prevDerivative == null ? 0 : 1) + (firstSample == null ? 0 : 1);
        }

        @Override
        void releaseState() {
            SchedulerTensors.release(prevDerivative);
            SchedulerTensors.release(firstSample);
            prevDerivative = null;
            firstSample = null;
        }
    }
}
