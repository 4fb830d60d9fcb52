package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.sqrt;
import static jdiffusion.schedulers.SchedulerTensors.s;

import java.util.Objects;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code LCMScheduler} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_lcm.py">scheduling_lcm.py</a>):
 * multistep sampling of a latent consistency model (Luo et al. 2023, arXiv 2310.04378), "LCM" in
 * A1111. Each step maps the sample to the consistency function's x0 (the model's x0 prediction
 * blended with the sample by the boundary conditions c_skip, c_out), then re-noises it to the next
 * timestep with fresh noise; the last step returns the denoised sample itself. Four to eight steps,
 * with guidance off or low, are what LCM and LCM-LoRA models are made for.
 *
 * <p>Example: {@code Schedulers.create("LCM", SchedulerConfigFile.read(file), Map.of()).start(4)}.
 */
public record LCMScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {
    /** sigma_data of the consistency-model boundary conditions (diffusers' fixed 0.5). */
    private static final float SIGMA_DATA = 0.5f;

    public LCMScheduler {
        if (config.originalInferenceSteps() == null) {
            throw new JDiffusionException("LCMScheduler: original_inference_steps must be set (50 for the LCM distillations)");
        }
        if (config.thresholding()) {
            throw new JDiffusionException("LCMScheduler: thresholding is not supported (it is for pixel-space models)");
        }
    }

    LCMScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, false));
    }

    /**
     * {@code set_timesteps(steps)}: the distillation schedule {@code k - 1, 2k - 1, ..., N - 1} with
     * k = num_train_timesteps // original_inference_steps (or every training timestep when TCD has no
     * original steps), descending, of which {@code steps} (approximately) evenly spaced entries are
     * taken: 4 of 50 give 999, 759, 499, 259. timestep_spacing and steps_offset play no part.
     */
    @Override
    public Schedule schedule(int steps) {
        return Schedule.distilled(config, steps, "LCMScheduler");
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** c_skip and c_out of the boundary condition at timestep {@code t}: x0 = c_out * x0_pred + c_skip * x_t. */
    private float[] boundaryScalings(int t) {
        // timestep (int64) * timestep_scaling is a float32 tensor in diffusers
        float scaled = (float) t * (float) config.timestepScaling();
        float denominator = scaled * scaled + SIGMA_DATA * SIGMA_DATA;
        return new float[] {SIGMA_DATA * SIGMA_DATA / denominator, scaled / sqrt(denominator)};
    }

    /** An LCM run; stateless apart from the step index (the noise comes from the caller's generator). */
    public final class Run extends SchedulerRun {
        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(LCMScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            int t = (int) schedule.timestep(stepIndex);
            boolean last = stepIndex == schedule.size() - 1;
            // 1. the next timestep (the current one after the last step, where it is not used)
            int prevT = last ? t : (int) schedule.timestep(stepIndex + 1);

            // 2. alphas and betas
            float alphaProdTPrev = prevT >= 0 ? tables.alphaAt(prevT) : tables.finalAlphaCumprod(config.setAlphaToOne());

            // 3-5. boundary scalings, predicted x0, clipped
            float[] c = boundaryScalings(t);
            Tensor x0 = AlphaPrediction.of(config.predictionType(), modelOutput, sample, tables.alphaAt(t)).x0();
            if (config.clipSample()) {
                float r = (float) config.clipSampleRange();
                x0 = x0.clamp(new ScalarOptional(s(-r)), new ScalarOptional(s(r)));
            }
            // 6. the consistency function's output
            Tensor denoised = x0.mul(s(c[1])).add(sample.mul(s(c[0])));

            // 7. fresh noise at every step but the last (so one-step sampling draws none)
            if (last) return new StepOutput(denoised, null);
            Objects.requireNonNull(generator, "LCM draws noise at every step but the last: pass a generator");
            Tensor noise = generator.randn(Tensors.shape(modelOutput)).to(modelOutput.device(), denoised.scalar_type());
            Tensor prev = denoised.mul(s(sqrt(alphaProdTPrev))).add(noise.mul(s(sqrt(1f - alphaProdTPrev))));
            // diffusers names the x0 of this step "denoised", not pred_original_sample
            return new StepOutput(prev, null);
        }
    }
}
