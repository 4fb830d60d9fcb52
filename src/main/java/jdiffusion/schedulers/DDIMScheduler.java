package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerMath.s;
import static jdiffusion.schedulers.SchedulerMath.sqrt;

import java.util.Objects;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code DDIMScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_ddim.py">scheduling_ddim.py</a>):
 * Song et al. (2020), formula (12); deterministic with eta = 0, one randn per step with eta > 0.
 */
public final class DDIMScheduler implements Scheduler {
    private final SchedulerConfig config;
    private final TrainingTables tables;
    private final float finalAlphaCumprod;
    private final double eta;

    DDIMScheduler(SchedulerConfig config) {
        this(config, 0.0);
    }

    private DDIMScheduler(SchedulerConfig config, double eta) {
        this.config = config;
        this.tables = TrainingTables.of(config, false);
        // the alpha "before" timestep 0: 1 (set_alpha_to_one) or alphas_cumprod[0] as in the SD configs
        this.finalAlphaCumprod = config.setAlphaToOne() ? 1f : tables.alphasCumprod()[0];
        this.eta = eta;
        if (config.thresholding()) {
            throw new JDiffusionException("DDIMScheduler: thresholding is not supported (it is for pixel-space models)");
        }
        if (!(eta >= 0)) throw new JDiffusionException("DDIM eta must be >= 0, got " + eta);
    }

    /**
     * The same scheduler whose runs use {@code eta} (the {@code eta} argument of diffusers' {@code step},
     * passed by the pipelines): 0 is DDIM, 1 is DDPM-like ancestral sampling.
     */
    public DDIMScheduler withEta(double eta) {
        return new DDIMScheduler(config, eta);
    }

    public double eta() {
        return eta;
    }

    @Override
    public SchedulerKind kind() {
        return SchedulerKind.DDIM;
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
        double[] t = SchedulerMath.round(SchedulerMath.spacedTimesteps(
                config.timestepSpacing(), config.numTrainTimesteps(), steps, config.stepsOffset()));
        return new Schedule(steps, t, true, null, 1f);
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
        return SchedulerMath.alphaAddNoise(tables.alphasCumprod(), original, noise, timesteps);
    }

    public Tensor getVelocity(Tensor sample, Tensor noise, Tensor timesteps) {
        double[] ts = SchedulerMath.values(timesteps);
        int[] idx = new int[ts.length];
        for (int i = 0; i < ts.length; i++) idx[i] = SchedulerMath.trainIndex(ts[i], config.numTrainTimesteps());
        return SchedulerMath.alphaVelocity(tables.alphasCumprod(), sample, noise, idx);
    }

    /** A DDIM run; stateless apart from the step index. */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            float[] ac = tables.alphasCumprod();
            int t = (int) schedule.timestep(stepIndex);
            // 1. previous timestep: always t - N // n, even for "linspace" spacing whose steps are uneven
            int prevT = t - config.numTrainTimesteps() / schedule.numInferenceSteps();

            // 2. alphas and betas
            float alphaProdT = SchedulerMath.alphaAt(ac, t);
            float alphaProdTPrev = prevT >= 0 ? SchedulerMath.alphaAt(ac, prevT) : finalAlphaCumprod;
            float betaProdT = 1f - alphaProdT;

            // 3. predicted x0 and epsilon
            Tensor x0;
            Tensor eps;
            switch (config.predictionType()) {
                case EPSILON -> {
                    x0 = sample.sub(modelOutput.mul(s(sqrt(betaProdT)))).div(s(sqrt(alphaProdT)));
                    eps = modelOutput;
                }
                case SAMPLE -> {
                    x0 = modelOutput;
                    eps = sample.sub(x0.mul(s(sqrt(alphaProdT)))).div(s(sqrt(betaProdT)));
                }
                case V_PREDICTION -> {
                    x0 = sample.mul(s(sqrt(alphaProdT))).sub(modelOutput.mul(s(sqrt(betaProdT))));
                    eps = modelOutput.mul(s(sqrt(alphaProdT))).add(sample.mul(s(sqrt(betaProdT))));
                }
                default -> throw new AssertionError();
            }
            // 4. clip x0 (eps is NOT recomputed from the clipped x0: use_clipped_model_output is False)
            if (config.clipSample()) {
                float r = (float) config.clipSampleRange();
                x0 = x0.clamp(new ScalarOptional(s(-r)), new ScalarOptional(s(r)));
            }
            // 5. sigma_t of formula (16)
            float betaProdTPrev = 1f - alphaProdTPrev;
            float variance = betaProdTPrev / betaProdT * (1f - alphaProdT / alphaProdTPrev);
            float std = (float) eta * sqrt(variance);

            // 6-7. direction pointing to x_t, then x_{t-1}
            Tensor direction = eps.mul(s(sqrt(1f - alphaProdTPrev - std * std)));
            Tensor prev = x0.mul(s(sqrt(alphaProdTPrev))).add(direction);
            if (eta > 0) {
                Objects.requireNonNull(generator, "DDIM with eta > 0 draws noise at every step: pass a generator");
                Tensor noise = generator.randn(Tensors.shape(modelOutput)).to(modelOutput.device(), modelOutput.scalar_type());
                prev = prev.add(noise.mul(s(std)));
            }
            return new StepOutput(prev, x0);
        }

        @Override
        public Tensor addNoise(Tensor original, Tensor noise, Tensor timesteps) {
            return DDIMScheduler.this.addNoise(original, noise, timesteps);
        }

        @Override
        public Tensor getVelocity(Tensor sample, Tensor noise, Tensor timesteps) {
            return DDIMScheduler.this.getVelocity(sample, noise, timesteps);
        }

        @Override
        String schedulerName() {
            return "DDIMScheduler";
        }

        @Override
        void releaseState() {}
    }
}
