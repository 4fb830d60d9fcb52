package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.alphaOf;
import static jdiffusion.schedulers.NumpyMath.expm1;
import static jdiffusion.schedulers.NumpyMath.lambdaOf;
import static jdiffusion.schedulers.SchedulerTensors.s;

import java.util.Arrays;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code UniPCMultistepScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_unipc_multistep.py">scheduling_unipc_multistep.py</a>):
 * UniPC (Zhao et al. 2023, arXiv 2302.04867) with the B2(h) variant ("bh2") and data prediction, the
 * diffusers default. Each step first corrects the sample the previous step predicted (UniC, using the
 * new model output), then predicts the next one (UniP).
 */
public record UniPCMultistepScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {
    public UniPCMultistepScheduler {
        String st = config.solverType();
        // midpoint/heun/logrho (DPM-Solver names) are registered as bh2 by diffusers
        if (!st.equals("bh1") && !st.equals("bh2") && !st.equals("midpoint") && !st.equals("heun") && !st.equals("logrho")) {
            throw new JDiffusionException("UniPCMultistepScheduler: solver_type must be bh1 or bh2, got '" + st + "'");
        }
        if (config.thresholding()) {
            throw new JDiffusionException("UniPCMultistepScheduler: thresholding is not supported (it is for pixel-space models)");
        }
        Schedule.rejectUnsupportedSigmas(config, "UniPCMultistepScheduler");
        Schedule.finalSigma(config, tables);
    }

    UniPCMultistepScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, true));
    }

    private boolean bh1() {
        return config.solverType().equals("bh1");
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        int n = config.numTrainTimesteps();
        double[] timesteps = switch (config.timestepSpacing()) {
            case LINSPACE -> {
                double[] t = NumpyMath.reversed(NumpyMath.round(NumpyMath.linspace(0, n - 1, steps + 1)));
                yield Arrays.copyOf(t, t.length - 1);
            }
            case LEADING -> {
                int ratio = n / (steps + 1);
                double[] t = new double[steps];
                for (int i = 0; i < steps; i++) t[i] = (double) (steps - i) * ratio + config.stepsOffset();
                yield t;
            }
            case TRAILING -> {
                double[] t = NumpyMath.round(NumpyMath.arange(n, 0, -((double) n / steps)));
                for (int i = 0; i < t.length; i++) t[i] -= 1;
                yield t;
            }
        };
        float[] train = tables.trainingSigmas();
        float[] all;
        if (config.useKarrasSigmas()) {
            float[] logTrain = Schedule.logs(train);
            double[] sigmas = Schedule.karrasSigmas(train[0], train[n - 1], steps);
            timesteps = new double[steps];
            all = new float[steps + 1];
            for (int i = 0; i < steps; i++) {
                timesteps[i] = Math.rint(Schedule.sigmaToT(sigmas[i], logTrain));
                all[i] = (float) sigmas[i];
            }
            // 0.31 repeats the last Karras sigma here (final_sigmas_type is not consulted on this path)
            all[steps] = all[steps - 1];
        } else {
            all = new float[timesteps.length + 1];
            for (int i = 0; i < timesteps.length; i++) all[i] = (float) NumpyMath.interp(timesteps[i], train);
            all[timesteps.length] = Schedule.finalSigma(config, tables);
        }
        return new Schedule(steps, timesteps, true, all, 1f);
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** A UniPC run: the last {@code solver_order} converted model outputs and the last predicted sample. */
    public final class Run extends SchedulerRun {
        private final Tensor[] modelOutputs = new Tensor[config.solverOrder()];   // held, newest last
        private Tensor lastSample;                                               // held
        private int lowerOrderNums;
        private int thisOrder;

        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(UniPCMultistepScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            boolean useCorrector = stepIndex > 0 && !config.disableCorrector().contains(stepIndex - 1) && lastSample != null;
            Tensor converted = convertModelOutput(modelOutput, sample);
            if (useCorrector) sample = correct(converted, lastSample, sample, thisOrder);

            SchedulerTensors.release(modelOutputs[0]);
            System.arraycopy(modelOutputs, 1, modelOutputs, 0, modelOutputs.length - 1);
            modelOutputs[modelOutputs.length - 1] = SchedulerTensors.hold(converted);

            int order = config.lowerOrderFinal()
                    ? Math.min(config.solverOrder(), schedule.size() - stepIndex)
                    : config.solverOrder();
            thisOrder = Math.min(order, lowerOrderNums + 1);   // warm-up of the multistep history

            SchedulerTensors.release(lastSample);
            lastSample = SchedulerTensors.hold(sample);
            Tensor prev = predict(sample, thisOrder);
            if (lowerOrderNums < config.solverOrder()) lowerOrderNums++;
            return new StepOutput(prev, null);
        }

        private Tensor convertModelOutput(Tensor modelOutput, Tensor sample) {
            float sigma = schedule.sigma(stepIndex);
            float alphaT = alphaOf(sigma);
            float sigmaT = sigma * alphaT;
            if (config.predictX0()) {
                return switch (config.predictionType()) {
                    case EPSILON -> sample.sub(modelOutput.mul(s(sigmaT))).div(s(alphaT));
                    case SAMPLE -> modelOutput;
                    case V_PREDICTION -> sample.mul(s(alphaT)).sub(modelOutput.mul(s(sigmaT)));
                };
            }
            return switch (config.predictionType()) {
                case EPSILON -> modelOutput;
                case SAMPLE -> sample.sub(modelOutput.mul(s(alphaT))).div(s(sigmaT));
                case V_PREDICTION -> modelOutput.mul(s(alphaT)).add(sample.mul(s(sigmaT)));
            };
        }

        /** UniP-p with B(h): from {@code x} at sigmas[i] to sigmas[i + 1]. */
        private Tensor predict(Tensor x, int order) {
            int i = stepIndex;
            Coefficients c = coefficients(schedule.sigma(i + 1), schedule.sigma(i), order, k -> i - k);
            if (c.degenerate()) {
                order = 1;
                c = coefficients(schedule.sigma(i + 1), schedule.sigma(i), 1, k -> i - k);
            }
            Tensor m0 = modelOutputs[modelOutputs.length - 1];
            Tensor xt = base(x, m0, c);
            if (order == 1) return xt;   // diffusers subtracts alpha_t * B_h * 0
            // order 2 uses the simplified rho = 0.5; higher orders solve R[:-1, :-1] rho = b[:-1]
            double[] rhos = order == 2 ? new double[] {0.5} : NumpyMath.solve(minor(c.r), Arrays.copyOf(c.b, order - 1));
            Tensor res = weighted(rhos, c.d1s, order - 1);
            return xt.sub(res.mul(s(c.scale * c.bh)));
        }

        /** UniC-p with B(h): corrects {@code thisSample} at sigmas[i] using the new model output. */
        private Tensor correct(Tensor modelT, Tensor lastSample, Tensor thisSample, int order) {
            int i = stepIndex;
            Coefficients c = coefficients(schedule.sigma(i), schedule.sigma(i - 1), order, k -> i - (k + 1));
            if (c.degenerate()) {
                order = 1;
                c = coefficients(schedule.sigma(i), schedule.sigma(i - 1), 1, k -> i - (k + 1));
            }
            Tensor m0 = modelOutputs[modelOutputs.length - 1];
            Tensor xt = base(lastSample, m0, c);
            double[] rhos = order == 1 ? new double[] {0.5} : NumpyMath.solve(c.r, c.b);
            Tensor d1t = modelT.sub(m0);
            Tensor corr = d1t.mul(s((float) rhos[order - 1]));
            if (order > 1) corr = weighted(rhos, c.d1s, order - 1).add(corr);
            return xt.sub(corr.mul(s(c.scale * c.bh)));
        }

        /** The first-order part: sigma_t / sigma_s0 * x - alpha_t * h_phi_1 * m0 (data prediction). */
        private Tensor base(Tensor x, Tensor m0, Coefficients c) {
            return x.mul(s(c.ratio)).sub(m0.mul(s(c.scale * c.hPhi1)));
        }

        private Tensor weighted(double[] rhos, Tensor[] d1s, int k) {
            Tensor sum = d1s[0].mul(s((float) rhos[0]));
            for (int j = 1; j < k; j++) sum = sum.add(d1s[j].mul(s((float) rhos[j])));
            return sum;
        }

        private double[][] minor(double[][] r) {
            int n = r.length - 1;
            double[][] m = new double[n][];
            for (int j = 0; j < n; j++) m[j] = Arrays.copyOf(r[j], n);
            return m;
        }

        /**
         * The scalars shared by UniP and UniC: h, the ratios r_k of the past log-SNR steps, the
         * differences D1_k = (m_k - m0) / r_k, and the order conditions R rho = b.
         */
        private Coefficients coefficients(float sigmaTo, float sigmaFrom, int order, java.util.function.IntUnaryOperator pastIndex) {
            float alphaT = alphaOf(sigmaTo);
            float sigmaT = sigmaTo * alphaT;
            float alphaS0 = alphaOf(sigmaFrom);
            float sigmaS0 = sigmaFrom * alphaS0;
            float lambdaS0 = lambdaOf(sigmaFrom);
            float h = lambdaOf(sigmaTo) - lambdaS0;
            Tensor m0 = modelOutputs[modelOutputs.length - 1];
            float[] rks = new float[order];
            Tensor[] d1s = new Tensor[Math.max(order - 1, 0)];
            // Deviation: a repeated timestep (linspace rounding above ~500 steps) makes h or r_k zero and
            // diffusers' step NaN; the caller then falls back to order 1.
            boolean degenerate = false;
            for (int k = 1; k < order; k++) {
                Tensor mk = modelOutputs[modelOutputs.length - 1 - k];
                float rk = (lambdaOf(schedule.sigma(pastIndex.applyAsInt(k))) - lambdaS0) / h;
                rks[k - 1] = rk;
                if (rk == 0 || !Float.isFinite(rk)) {
                    degenerate = true;
                    continue;
                }
                d1s[k - 1] = mk.sub(m0).div(s(rk));
            }
            rks[order - 1] = 1f;
            boolean x0 = config.predictX0();
            float hh = x0 ? -h : h;
            float hPhi1 = expm1(hh);   // h * phi_1(h) = e^h - 1
            float hPhiK = hPhi1 / hh - 1f;
            float bh = bh1() ? hh : expm1(hh);
            double[][] r = new double[order][order];
            double[] b = new double[order];
            int factorial = 1;
            for (int k = 1; k <= order; k++) {
                for (int j = 0; j < order; j++) r[k - 1][j] = (float) Math.pow(rks[j], k - 1);
                b[k - 1] = hPhiK * factorial / bh;
                factorial *= k + 1;
                hPhiK = hPhiK / hh - (float) (1.0 / factorial);
            }
            // data prediction: x_t = sigma_t/sigma_s0 x - alpha_t (...); noise prediction: alpha_t/alpha_s0 x - sigma_t (...)
            float ratio = x0 ? sigmaT / sigmaS0 : alphaT / alphaS0;
            float scale = x0 ? alphaT : sigmaT;
            return new Coefficients(ratio, scale, hPhi1, bh, r, b, d1s, degenerate);
        }

        private record Coefficients(float ratio, float scale, float hPhi1, float bh, double[][] r, double[] b, Tensor[] d1s,
                                    boolean degenerate) {}

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return SchedulerTensors.vpAddNoise(schedule, sigmaIndices(timesteps), original, noise);
        }

        @Override
        int indexOrFail(double t) {
            int i = schedule.indexForTimestep(t);
            return i < 0 ? schedule.size() - 1 : i;
        }

        @Override
        int heldCount() {
            return (int) Arrays.stream(modelOutputs).filter(java.util.Objects::nonNull).count() + (lastSample == null ? 0 : 1);
        }

        @Override
        void releaseState() {
            for (int i = 0; i < modelOutputs.length; i++) {
                SchedulerTensors.release(modelOutputs[i]);
                modelOutputs[i] = null;
            }
            SchedulerTensors.release(lastSample);
            lastSample = null;
        }
    }
}
