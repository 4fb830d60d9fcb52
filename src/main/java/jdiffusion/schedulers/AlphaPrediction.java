package jdiffusion.schedulers;

import static jdiffusion.schedulers.NumpyMath.sqrt;
import static jdiffusion.schedulers.SchedulerTensors.s;

import org.bytedeco.pytorch.Tensor;

/**
 * The predicted original sample x0 and noise eps of the alpha-based schedulers (DDPM, DDIM, LCM, TCD),
 * from a model output of the configured {@code prediction_type} at a timestep with cumulative alpha
 * {@code alphaProdT} (formula (15) of Ho et al. 2020; v as in section 2.4 of Imagen Video).
 */
record AlphaPrediction(Tensor x0, Tensor eps) {

    static AlphaPrediction of(PredictionType type, Tensor modelOutput, Tensor sample, float alphaProdT) {
        float betaProdT = 1f - alphaProdT;
        return switch (type) {
            case EPSILON -> new AlphaPrediction(
                    sample.sub(modelOutput.mul(s(sqrt(betaProdT)))).div(s(sqrt(alphaProdT))), modelOutput);
            case SAMPLE -> new AlphaPrediction(modelOutput,
                    sample.sub(modelOutput.mul(s(sqrt(alphaProdT)))).div(s(sqrt(betaProdT))));
            case V_PREDICTION -> new AlphaPrediction(
                    sample.mul(s(sqrt(alphaProdT))).sub(modelOutput.mul(s(sqrt(betaProdT)))),
                    modelOutput.mul(s(sqrt(alphaProdT))).add(sample.mul(s(sqrt(betaProdT)))));
        };
    }
}
