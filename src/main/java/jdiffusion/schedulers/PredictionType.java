package jdiffusion.schedulers;

import java.util.Locale;
import jdiffusion.JDiffusionException;

/** What a UNet predicts: diffusers' {@code prediction_type} of the scheduler config. */
public enum PredictionType {
    EPSILON("epsilon"), V_PREDICTION("v_prediction"), SAMPLE("sample");

    private final String configName;

    PredictionType(String configName) {
        this.configName = configName;
    }

    /** The value of {@code prediction_type} in scheduler_config.json. */
    public String configName() {
        return configName;
    }

    /** "epsilon"/"eps", "v_prediction"/"v" or "sample" (diffusers' and LDM's spellings). */
    public static PredictionType parse(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "epsilon", "eps" -> EPSILON;
            case "v_prediction", "v" -> V_PREDICTION;
            case "sample" -> SAMPLE;
            default -> throw new JDiffusionException("unknown prediction type '" + s + "': use epsilon, v_prediction or sample");
        };
    }

    @Override
    public String toString() {
        return configName;
    }
}
