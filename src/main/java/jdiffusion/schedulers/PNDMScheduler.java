package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerTensors.s;
import static jdiffusion.schedulers.NumpyMath.sqrt;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers 0.31 {@code PNDMScheduler} with {@code skip_prk_steps} (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/schedulers/scheduling_pndm.py">scheduling_pndm.py</a>):
 * the pseudo linear multistep (PLMS) method of Liu et al. (2022), the SD 1.x default ("PLMS" in A1111).
 * The second timestep is repeated: that call re-does the first step with the average of both model
 * outputs (a two-point warm-up instead of Runge-Kutta). Up to four past model outputs are kept.
 */
public record PNDMScheduler(SchedulerConfig config, TrainingTables tables) implements Scheduler {

    public PNDMScheduler {
        if (!config.skipPrkSteps()) {
            throw new JDiffusionException("PNDMScheduler with skip_prk_steps false (Runge-Kutta warm-up) is not"
                    + " supported; set skip_prk_steps to true, as every Stable Diffusion config does");
        }
        if (config.predictionType() == PredictionType.SAMPLE) {
            throw new JDiffusionException("PNDMScheduler supports prediction_type epsilon and v_prediction only");
        }
    }

    PNDMScheduler(SchedulerConfig config) {
        this(config, TrainingTables.of(config, false));
    }

    @Override
    public Schedule schedule(int steps) {
        Scheduler.checkSteps(steps, config);
        // ascending "_timesteps", then the PLMS list with the second-to-last repeated, reversed:
        // [t_n-1, t_n-2, t_n-2, t_n-3, ..., t_0]
        double[] asc = NumpyMath.reversed(NumpyMath.round(Schedule.spacedTimesteps(config, steps)));
        List<Double> plms = new ArrayList<>();
        for (int i = 0; i < asc.length - 1; i++) plms.add(asc[i]);
        if (asc.length >= 2) plms.add(asc[asc.length - 2]);
        plms.add(asc[asc.length - 1]);
        double[] t = new double[plms.size()];
        for (int i = 0; i < t.length; i++) t[i] = plms.get(t.length - 1 - i);
        return new Schedule(steps, t, true, null, 1f);
    }

    @Override
    public Run newRun(Schedule schedule, int beginIndex, boolean beginIndexSet) {
        return new Run(schedule, beginIndex, beginIndexSet);
    }

    /** A PLMS run: the counter, the past model outputs ({@code ets}) and the warm-up sample. */
    public final class Run extends SchedulerRun {
        private final List<Tensor> ets = new ArrayList<>();   // held; newest last, at most 4
        private Tensor curSample;                             // held during the warm-up pair
        private int counter;

        Run(Schedule schedule, int beginIndex, boolean beginIndexSet) {
            super(PNDMScheduler.this, schedule, beginIndex, beginIndexSet);
        }

        @Override
        StepOutput doStep(Tensor modelOutput, Tensor sample, TorchGenerator generator) {
            int ratio = config.numTrainTimesteps() / schedule.numInferenceSteps();
            int t = (int) schedule.timestep(stepIndex);
            int prevT = t - ratio;
            if (counter != 1) {
                while (ets.size() > 3) SchedulerTensors.release(ets.removeFirst());
                ets.add(SchedulerTensors.hold(modelOutput));
            } else {
                // the repeated timestep: redo the step from the previous timestep
                prevT = t;
                t = t + ratio;
            }

            Tensor x = sample;
            Tensor eps;
            Tensor used = null;   // curSample, released once the step is computed
            int n = ets.size();
            if (n == 1 && counter == 0) {
                eps = modelOutput;
                curSample = SchedulerTensors.hold(sample);
            } else if (n == 1 && counter == 1) {
                eps = modelOutput.add(ets.get(0)).div(s(2f));
                x = curSample;
                used = curSample;
                curSample = null;
            } else if (n == 2) {
                eps = ets.get(1).mul(s(3f)).sub(ets.get(0)).div(s(2f));
            } else if (n == 3) {
                eps = ets.get(2).mul(s(23f)).sub(ets.get(1).mul(s(16f))).add(ets.get(0).mul(s(5f))).div(s(12f));
            } else {
                eps = ets.get(3).mul(s(55f)).sub(ets.get(2).mul(s(59f))).add(ets.get(1).mul(s(37f)))
                        .sub(ets.get(0).mul(s(9f))).mul(s((float) (1.0 / 24)));
            }
            Tensor prev = prevSample(x, t, prevT, eps);
            SchedulerTensors.release(used);
            counter++;
            return new StepOutput(prev, null);
        }

        /** Formula (9) of the PNDM paper: x_{t - delta} from x_t and the (combined) noise estimate. */
        private Tensor prevSample(Tensor sample, int t, int prevT, Tensor eps) {
            float[] ac = tables.alphasCumprod();
            float alphaProdT = tables.alphaAt(t);
            float alphaProdTPrev = prevT >= 0 ? tables.alphaAt(prevT) : tables.finalAlphaCumprod(config.setAlphaToOne());
            float betaProdT = 1f - alphaProdT;
            float betaProdTPrev = 1f - alphaProdTPrev;
            if (config.predictionType() == PredictionType.V_PREDICTION) {
                eps = eps.mul(s(sqrt(alphaProdT))).add(sample.mul(s(sqrt(betaProdT))));
            }
            float sampleCoeff = sqrt(alphaProdTPrev / alphaProdT);
            float denom = alphaProdT * sqrt(betaProdTPrev) + sqrt(alphaProdT * betaProdT * alphaProdTPrev);
            return sample.mul(s(sampleCoeff)).sub(eps.mul(s(alphaProdTPrev - alphaProdT)).div(s(denom)));
        }

        @Override
        int heldCount() {
            return ets.size() + (curSample == null ? 0 : 1);
        }

        @Override
        void releaseState() {
            ets.forEach(SchedulerTensors::release);
            ets.clear();
            SchedulerTensors.release(curSample);
            curSample = null;
        }
    }
}
