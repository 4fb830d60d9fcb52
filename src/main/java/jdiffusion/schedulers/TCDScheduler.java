package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.sqrt;
import static jdiffusion.schedulers.SchedulerTensors.s;

import java.util.Objects;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code TCDScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_tcd.py">scheduling_tcd.py</a>):
 * strategic stochastic sampling of Trajectory Consistency Distillation (Zheng et al. 2024, arXiv
 * 2402.19159), "TCD". Each step predicts x0 and eps, moves to the intermediate timestep
 * s = floor((1 - eta) * t_prev), then re-noises from s to t_prev with fresh noise; {@code eta} (the
 * paper's gamma, diffusers' default 0.3) sets the stochasticity: 0 is deterministic, 1 is LCM-like.
 * The timesteps are LCM's.
 *
 * <p>Example: {@code ((TCDScheduler) Schedulers.create("TCD", file, Map.of())).withEta(0.5).start(4)}.
 */
public record TCDScheduler(SchedulerConfig config, TrainingTables tables, double eta) implements Scheduler {
    /** The default {@code eta} of diffusers' {@code TCDScheduler.step}. */
    public static final double DEFAULT_ETA = 0.3;

    public TCDScheduler {
        if (!(eta >= 0 && eta <= 1)) throw new JDiffusionException("TCD eta (gamma) must be between 0 and 1, got " + eta);
        if (config.thresholding()) {
            throw new JDiffusionException("TCDScheduler: thresholding is not supported (it is for pixel-space models)");
        }
    }

    TCDScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, false), DEFAULT_ETA);
    }

    /** The same scheduler whose runs use {@code eta} (the {@code eta} argument of diffusers' {@code step}). */
    public TCDScheduler withEta(double eta) {
        return new TCDScheduler(config, tables, eta);
    }

    /** LCM's timesteps ({@link LCMScheduler#schedule}); with no original_inference_steps, every training timestep. */
    @Override
    public Schedule schedule(int steps) {
        return Schedule.distilled(config, steps, "TCDScheduler");
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** A TCD run; stateless apart from the step index (the noise comes from the caller's generator). */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(TCDScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            int t = (int) schedule.timestep(stepIndex);
            boolean last = stepIndex == schedule.size() - 1;
            // 1. the next timestep (0 after the last step) and the intermediate one, floor((1 - eta) * t_prev)
            //    in float32 as diffusers' int64 tensor times a Python float
            int prevT = last ? 0 : (int) schedule.timestep(stepIndex + 1);
            int timestepS = (int) Math.floor((float) (1 - eta) * (float) prevT);

            // 2. alphas and betas
            float alphaProdTPrev = prevT >= 0 ? tables.alphaAt(prevT) : tables.finalAlphaCumprod(config.setAlphaToOne());
            float alphaProdS = tables.alphaAt(timestepS);
            float betaProdS = 1f - alphaProdS;

            // 3. x0 and eps, then the noised sample at s
            AlphaPrediction p = AlphaPrediction.of(config.predictionType(), modelOutput, sample, tables.alphaAt(t));
            Tensor noised = p.x0().mul(s(sqrt(alphaProdS))).add(p.eps().mul(s(sqrt(betaProdS))));

            // 4. from s back up to t_prev with fresh noise, at every step but the last, when eta > 0
            if (eta == 0 || last) return new StepOutput(noised, null);
            Objects.requireNonNull(generator, "TCD with eta > 0 draws noise at every step but the last: pass a generator");
            Tensor noise = generator.randn(Tensors.shape(modelOutput)).to(modelOutput.device(), noised.scalar_type());
            float ratio = alphaProdTPrev / alphaProdS;
            Tensor prev = noised.mul(s(sqrt(ratio))).add(noise.mul(s(sqrt(1f - ratio))));
            // diffusers returns pred_noised_sample here, not pred_original_sample
            return new StepOutput(prev, null);
        }
    }
}
