package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.alphaOf;
import static jdiffusion.schedulers.NumpyMath.exp;
import static jdiffusion.schedulers.NumpyMath.lambdaOf;
import static jdiffusion.schedulers.SchedulerTensors.s;

import jdiffusion.JDiffusionException;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers 0.31 {@code DPMSolverMultistepScheduler} with {@code algorithm_type} "dpmsolver++" (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_dpmsolver_multistep.py">scheduling_dpmsolver_multistep.py</a>):
 * DPM-Solver++ (Lu et al. 2022, arXiv 2211.01095) in data prediction, "DPM++ 2M" in A1111 and with
 * {@code use_karras_sigmas} "DPM++ 2M Karras". The first step is first order (no history), and so is
 * the last one (final sigma 0) and, below 15 steps, the one before it.
 */
public record DPMSolverMultistepScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {
    public DPMSolverMultistepScheduler {
        String alg = config.algorithmType();
        // "deis" is registered as dpmsolver++ by diffusers
        if (!alg.equals("dpmsolver++") && !alg.equals("deis")) {
            throw new JDiffusionException("DPMSolverMultistepScheduler: algorithm_type '" + alg
                    + "' is not supported; use dpmsolver++ (the SDE and non-++ variants are not implemented)");
        }
        String st = config.solverType();
        // logrho/bh1/bh2 are registered as midpoint by diffusers
        if (!st.equals("midpoint") && !st.equals("heun") && !st.equals("logrho") && !st.equals("bh1") && !st.equals("bh2")) {
            throw new JDiffusionException("DPMSolverMultistepScheduler: solver_type must be midpoint or heun, got '" + st + "'");
        }
        if (config.thresholding()) {
            throw new JDiffusionException("DPMSolverMultistepScheduler: thresholding is not supported (it is for pixel-space models)");
        }
        if (config.varianceType() != null) {
            throw new JDiffusionException("DPMSolverMultistepScheduler: variance_type '" + config.varianceType()
                    + "' (learned variance) is not supported");
        }
        Schedule.rejectUnsupportedSigmas(config, "DPMSolverMultistepScheduler");
        Schedule.finalSigma(config, tables);
    }

    DPMSolverMultistepScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, true));
    }

    private boolean heunSolver() {
        return config.solverType().equals("heun");
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        int n = config.numTrainTimesteps();
        float[] ac = tables.alphasCumprod();
        // lambda_min_clipped: drop the training timesteps whose log-SNR is below it (cosine schedules)
        int clipped = 0;
        for (int i = 0; i < n; i++) {
            float lambda = NumpyMath.log(NumpyMath.sqrt(ac[i])) - NumpyMath.log(NumpyMath.sqrt(1f - ac[i]));
            if (lambda < config.lambdaMinClipped()) clipped++;
        }
        int lastTimestep = n - clipped;
        double[] timesteps = switch (config.timestepSpacing()) {
            case LINSPACE -> dropLast(NumpyMath.reversed(NumpyMath.round(NumpyMath.linspace(0, lastTimestep - 1, steps + 1))));
            case LEADING -> {
                int ratio = lastTimestep / (steps + 1);
                double[] t = new double[steps];
                for (int i = 0; i < steps; i++) t[i] = (double) (steps - i) * ratio + config.stepsOffset();
                yield t;
            }
            case TRAILING -> {
                double[] t = NumpyMath.round(NumpyMath.arange(lastTimestep, 0, -((double) n / steps)));
                for (int i = 0; i < t.length; i++) t[i] -= 1;
                yield t;
            }
        };

        float[] train = tables.trainingSigmas();
        float[] logTrain = Schedule.logs(train);
        double[] sigmas;
        if (config.useKarrasSigmas()) {
            sigmas = Schedule.karrasSigmas(train[0], train[n - 1], steps);
            timesteps = sigmasToRoundedTimesteps(sigmas, logTrain);
        } else if (config.useLuLambdas()) {
            // uniform in log sigma (= -lambda) from log sigma_max to log sigma_min (rho = 1)
            double[] ramp = NumpyMath.linspace(0, 1, steps);
            double max = logTrain[n - 1];
            double min = logTrain[0];
            sigmas = new double[steps];
            for (int i = 0; i < steps; i++) sigmas[i] = Math.exp(max + ramp[i] * (min - max));
            timesteps = sigmasToRoundedTimesteps(sigmas, logTrain);
        } else {
            sigmas = new double[timesteps.length];
            for (int i = 0; i < sigmas.length; i++) sigmas[i] = NumpyMath.interp(timesteps[i], train);
        }
        float[] all = new float[sigmas.length + 1];
        for (int i = 0; i < sigmas.length; i++) all[i] = (float) sigmas[i];
        all[sigmas.length] = Schedule.finalSigma(config, tables);
        return new Schedule(steps, timesteps, true, all, 1f);
    }

    private static double[] sigmasToRoundedTimesteps(double[] sigmas, float[] logTrain) {
        double[] t = new double[sigmas.length];
        for (int i = 0; i < t.length; i++) t[i] = Math.rint(Schedule.sigmaToT(sigmas[i], logTrain));
        return t;
    }

    private static double[] dropLast(double[] a) {
        return java.util.Arrays.copyOf(a, a.length - 1);
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** A DPM-Solver++ run: the last {@code solver_order} data predictions. */
    public final class Run extends SchedulerRun {
        private final Tensor[] modelOutputs = new Tensor[config.solverOrder()];   // held, newest last
        private int lowerOrderNums;

        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(DPMSolverMultistepScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            int steps = schedule.size();
            // fewer than 15 steps: the last two steps are of lower order, for stability
            boolean lowerOrderFinal = stepIndex == steps - 1 && (config.eulerAtFinal()
                    || (config.lowerOrderFinal() && steps < 15) || config.finalSigmasType().equals("zero"));
            boolean lowerOrderSecond = stepIndex == steps - 2 && config.lowerOrderFinal() && steps < 15;

            Tensor x0 = convertModelOutput(modelOutput, sample);
            SchedulerTensors.release(modelOutputs[0]);
            System.arraycopy(modelOutputs, 1, modelOutputs, 0, modelOutputs.length - 1);
            modelOutputs[modelOutputs.length - 1] = SchedulerTensors.hold(x0);

            Tensor x = sample.to(ScalarType.Float);
            Tensor prev;
            // Deviation: diffusers divides by a zero log-SNR step when a timestep repeats (linspace
            // rounding does that above ~500 steps) and returns NaN; we take the first-order step there.
            boolean repeated = lowerOrderNums >= 1 && (zeroStep(stepIndex) || zeroStep(stepIndex - 1)
                    || (lowerOrderNums >= 2 && config.solverOrder() >= 3 && zeroStep(stepIndex - 2)));
            if (config.solverOrder() == 1 || lowerOrderNums < 1 || lowerOrderFinal || repeated) {
                prev = firstOrder(x0, x);
            } else if (config.solverOrder() == 2 || lowerOrderNums < 2 || lowerOrderSecond) {
                prev = secondOrder(x);
            } else {
                prev = thirdOrder(x);
            }
            if (lowerOrderNums < config.solverOrder()) lowerOrderNums++;
            return new StepOutput(prev.to(modelOutput.scalar_type()), null);
        }

        /** Whether the step from sigmas[i] to sigmas[i + 1] has zero length in log-SNR. */
        private boolean zeroStep(int i) {
            return i >= 0 && lambdaOf(schedule.sigma(i + 1)) == lambdaOf(schedule.sigma(i));
        }

        /** The model output as a data prediction x0 (the "++" of DPM-Solver++). */
        private Tensor convertModelOutput(Tensor modelOutput, Tensor sample) {
            float sigma = schedule.sigma(stepIndex);
            float alphaT = alphaOf(sigma);
            float sigmaT = sigma * alphaT;
            return switch (config.predictionType()) {
                case EPSILON -> sample.sub(modelOutput.mul(s(sigmaT))).div(s(alphaT));
                case SAMPLE -> modelOutput;
                case V_PREDICTION -> sample.mul(s(alphaT)).sub(modelOutput.mul(s(sigmaT)));
            };
        }

        /** DPM-Solver++(1S), equation (5) of arXiv 2211.01095: DDIM in data prediction. */
        private Tensor firstOrder(Tensor x0, Tensor sample) {
            float sigmaNext = schedule.sigma(stepIndex + 1);
            float sigmaNow = schedule.sigma(stepIndex);
            float alphaT = alphaOf(sigmaNext);
            float sigmaT = sigmaNext * alphaT;
            float sigmaS = sigmaNow * alphaOf(sigmaNow);
            float h = lambdaOf(sigmaNext) - lambdaOf(sigmaNow);   // +inf on the step to sigma 0
            return sample.mul(s(sigmaT / sigmaS)).sub(x0.mul(s(alphaT * (exp(-h) - 1f))));
        }

        /** Multistep DPM-Solver++(2M), Algorithm 2 of arXiv 2211.01095. */
        private Tensor secondOrder(Tensor sample) {
            float sigmaNext = schedule.sigma(stepIndex + 1);
            float s0 = schedule.sigma(stepIndex);
            float s1 = schedule.sigma(stepIndex - 1);
            float alphaT = alphaOf(sigmaNext);
            float sigmaT = sigmaNext * alphaT;
            float sigmaS0 = s0 * alphaOf(s0);
            float lambdaT = lambdaOf(sigmaNext);
            float lambdaS0 = lambdaOf(s0);
            float lambdaS1 = lambdaOf(s1);
            Tensor m0 = modelOutputs[modelOutputs.length - 1];
            Tensor m1 = modelOutputs[modelOutputs.length - 2];
            float h = lambdaT - lambdaS0;
            float h0 = lambdaS0 - lambdaS1;
            float r0 = h0 / h;
            Tensor d1 = m0.sub(m1).mul(s(1f / r0));
            float c = alphaT * (exp(-h) - 1f);
            Tensor x = sample.mul(s(sigmaT / sigmaS0)).sub(m0.mul(s(c)));
            return heunSolver()
                    ? x.add(d1.mul(s(alphaT * ((exp(-h) - 1f) / h + 1f))))
                    : x.sub(d1.mul(s(0.5f * c)));
        }

        /** Multistep DPM-Solver++(3M). */
        private Tensor thirdOrder(Tensor sample) {
            float sigmaNext = schedule.sigma(stepIndex + 1);
            float s0 = schedule.sigma(stepIndex);
            float alphaT = alphaOf(sigmaNext);
            float sigmaT = sigmaNext * alphaT;
            float sigmaS0 = s0 * alphaOf(s0);
            float lambdaT = lambdaOf(sigmaNext);
            float lambdaS0 = lambdaOf(s0);
            float lambdaS1 = lambdaOf(schedule.sigma(stepIndex - 1));
            float lambdaS2 = lambdaOf(schedule.sigma(stepIndex - 2));
            int last = modelOutputs.length - 1;
            Tensor m0 = modelOutputs[last];
            Tensor m1 = modelOutputs[last - 1];
            Tensor m2 = modelOutputs[last - 2];
            float h = lambdaT - lambdaS0;
            float r0 = (lambdaS0 - lambdaS1) / h;
            float r1 = (lambdaS1 - lambdaS2) / h;
            Tensor d10 = m0.sub(m1).mul(s(1f / r0));
            Tensor d11 = m1.sub(m2).mul(s(1f / r1));
            Tensor d1 = d10.add(d10.sub(d11).mul(s(r0 / (r0 + r1))));
            Tensor d2 = d10.sub(d11).mul(s(1f / (r0 + r1)));
            float e = exp(-h) - 1f;
            return sample.mul(s(sigmaT / sigmaS0))
                    .sub(m0.mul(s(alphaT * e)))
                    .add(d1.mul(s(alphaT * (e / h + 1f))))
                    .sub(d2.mul(s(alphaT * ((e + h) / (h * h) - 0.5f))));
        }

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return SchedulerTensors.vpAddNoise(schedule, sigmaIndices(timesteps), original, noise);
        }

        @Override
        int indexOrFail(double t) {
            int i = schedule.indexForTimestep(t);
            return i < 0 ? schedule.size() - 1 : i;   // diffusers: an unknown timestep maps to the last index
        }

        @Override
        int heldCount() {
            return (int) java.util.Arrays.stream(modelOutputs).filter(java.util.Objects::nonNull).count();
        }

        @Override
        void releaseState() {
            for (int i = 0; i < modelOutputs.length; i++) {
                SchedulerTensors.release(modelOutputs[i]);
                modelOutputs[i] = null;
            }
        }
    }
}
