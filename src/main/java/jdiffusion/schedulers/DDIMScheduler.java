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
 * diffusers 0.31 {@code DDIMScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_ddim.py">scheduling_ddim.py</a>):
 * Song et al. (2020), formula (12); deterministic with eta = 0, one randn per step with eta > 0.
 */
public record DDIMScheduler(SchedulerConfig config, TrainingTables tables, double eta) implements Scheduler {

    /**
     * @param eta the {@code eta} argument of diffusers' {@code step}, passed by the pipelines: 0 is DDIM,
     *     1 is DDPM-like ancestral sampling
     */
    public DDIMScheduler {
        if (config.thresholding()) {
            throw new JDiffusionException("DDIMScheduler: thresholding is not supported (it is for pixel-space models)");
        }
        if (!(eta >= 0)) throw new JDiffusionException("DDIM eta must be >= 0, got " + eta);
    }

    DDIMScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, false), 0.0);
    }

    /** The same scheduler whose runs use {@code eta}. */
    public DDIMScheduler withEta(double eta) {
        return new DDIMScheduler(config, tables, eta);
    }

    @Override
    public Schedule schedule(int steps) {
        return Schedule.alphaSpaced(config, steps);
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** A DDIM run; stateless apart from the step index. */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(DDIMScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            int t = (int) schedule.timestep(stepIndex);
            // 1. previous timestep: always t - N // n, even for "linspace" spacing whose steps are uneven
            int prevT = t - config.numTrainTimesteps() / schedule.numInferenceSteps();

            // 2. alphas and betas
            float alphaProdT = tables.alphaAt(t);
            float alphaProdTPrev = prevT >= 0 ? tables.alphaAt(prevT) : tables.finalAlphaCumprod(config.setAlphaToOne());
            float betaProdT = 1f - alphaProdT;

            // 3. predicted x0 and epsilon
            AlphaPrediction p = AlphaPrediction.of(config.predictionType(), modelOutput, sample, alphaProdT);
            Tensor x0 = p.x0();
            Tensor eps = p.eps();
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
    }
}
