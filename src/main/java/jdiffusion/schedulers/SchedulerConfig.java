package jdiffusion.schedulers;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jdiffusion.JDiffusionException;

/**
 * The resolved configuration of one diffusers scheduler class: the union of the {@code __init__}
 * arguments of the schedulers in this package, camel-cased mechanically from the JSON keys of
 * {@code scheduler_config.json}. Each scheduler reads only the keys its diffusers class has.
 *
 * <p>Built by {@link #resolve}: the class's defaults, then the keys present in the source file, then
 * the caller's overrides. This is diffusers' {@code from_config} (Pitfall 18): a key absent from the
 * file takes the NEW class's default (e.g. {@code timestep_spacing} is "leading" for DDPM/DDIM/PNDM
 * and "linspace" for the others), never the old class's.
 */
public record SchedulerConfig(
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        BetaSchedule betaSchedule,
        List<Double> trainedBetas,          // null unless the file gives the betas explicitly
        PredictionType predictionType,
        TimestepSpacing timestepSpacing,
        int stepsOffset,
        boolean setAlphaToOne,              // DDIM, PNDM
        boolean clipSample,                 // DDPM, DDIM, Heun
        double clipSampleRange,
        boolean thresholding,               // DDPM, DDIM, DPM, UniPC (rejected: pixel-space models only)
        double dynamicThresholdingRatio,
        double sampleMaxValue,
        boolean skipPrkSteps,               // PNDM
        String varianceType,                // DDPM ("fixed_small"), DPM (null)
        boolean rescaleBetasZeroSnr,
        boolean useKarrasSigmas,
        boolean useExponentialSigmas,
        boolean useBetaSigmas,
        boolean useLuLambdas,               // DPM
        Double sigmaMin,                    // Euler; null = from the training schedule
        Double sigmaMax,
        String interpolationType,           // Euler: linear | log_linear
        String timestepType,                // Euler: discrete | continuous
        String finalSigmasType,             // Euler, DPM, UniPC: zero | sigma_min
        int solverOrder,                    // DPM, UniPC
        String algorithmType,               // DPM
        String solverType,                  // DPM: midpoint | heun; UniPC: bh1 | bh2
        boolean lowerOrderFinal,
        boolean eulerAtFinal,
        double lambdaMinClipped,
        boolean predictX0,                  // UniPC
        List<Integer> disableCorrector,     // UniPC
        Integer originalInferenceSteps,     // LCM, TCD: the distillation schedule (TCD: null = every timestep)
        double timestepScaling) {           // LCM: c_skip/c_out of the consistency boundary condition

    public enum BetaSchedule {
        LINEAR("linear"), SCALED_LINEAR("scaled_linear"), SQUAREDCOS_CAP_V2("squaredcos_cap_v2");

        final String json;

        BetaSchedule(String json) {
            this.json = json;
        }
    }

    public enum TimestepSpacing {
        LEADING("leading"), TRAILING("trailing"), LINSPACE("linspace");

        final String json;

        TimestepSpacing(String json) {
            this.json = json;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    public SchedulerConfig {
        require(numTrainTimesteps > 0, "num_train_timesteps must be positive, got " + numTrainTimesteps);
        require(trainedBetas == null || trainedBetas.size() == numTrainTimesteps,
                "trained_betas has " + (trainedBetas == null ? 0 : trainedBetas.size())
                        + " values but num_train_timesteps is " + numTrainTimesteps);
        require(stepsOffset >= 0, "steps_offset must be >= 0, got " + stepsOffset);
        require(solverOrder >= 1 && solverOrder <= 3, "solver_order must be 1, 2 or 3, got " + solverOrder);
        require(originalInferenceSteps == null || (originalInferenceSteps >= 1 && originalInferenceSteps <= numTrainTimesteps),
                "original_inference_steps must be between 1 and num_train_timesteps (" + numTrainTimesteps + "), got "
                        + originalInferenceSteps);
        require(timestepScaling > 0 && Double.isFinite(timestepScaling), "timestep_scaling must be positive, got " + timestepScaling);
        trainedBetas = trainedBetas == null ? null : List.copyOf(trainedBetas);
        disableCorrector = List.copyOf(disableCorrector);
    }

    /** Keys every scheduler of this package understands; others in a file are ignored, as diffusers does. */
    public static Set<String> knownKeys() {
        Set<String> keys = new java.util.LinkedHashSet<>();
        BASE_DEFAULTS.fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    /**
     * The configuration {@code kind} gets from {@code explicit} (the keys present in a source file,
     * already without {@code _use_default_values}) and {@code overrides} (applied last), with the
     * class's defaults for every other key. Unknown keys in {@code explicit} are ignored; unknown
     * override keys are an error, because they are almost always a typo.
     */
    public static SchedulerConfig resolve(SchedulerKind kind, Map<String, JsonNode> explicit, Map<String, ?> overrides) {
        ObjectNode merged = defaults(kind);
        explicit.forEach((key, value) -> {
            if (merged.has(key)) merged.set(key, value);
        });
        overrides.forEach((key, value) -> {
            if (!merged.has(key)) {
                throw new JDiffusionException("unknown scheduler option '" + key + "'; known options: "
                        + String.join(", ", knownKeys()));
            }
            merged.set(key, JSON.valueToTree(value));
        });
        return fromResolved(merged);
    }

    /** The defaults of the diffusers 0.31 {@code __init__} of {@code kind}. */
    static ObjectNode defaults(SchedulerKind kind) {
        ObjectNode d = BASE_DEFAULTS.deepCopy();
        switch (kind) {
            case DDPM -> {
                d.put("timestep_spacing", "leading");
                d.put("clip_sample", true);
            }
            case DDIM -> {
                d.put("timestep_spacing", "leading");
                d.put("clip_sample", true);
                d.put("set_alpha_to_one", true);
            }
            case PNDM -> d.put("timestep_spacing", "leading");
            case HEUN -> {
                // Heun's defaults are the SD ones, unlike every other class here.
                d.put("beta_start", 0.00085);
                d.put("beta_end", 0.012);
            }
            case DPM_SOLVER_MULTISTEP -> {
                d.putNull("variance_type");
                d.put("solver_type", "midpoint");
            }
            case LCM, TCD -> {
                // the LCM/TCD distillations are of SD: its betas, DDIM's set_alpha_to_one default
                d.put("beta_start", 0.00085);
                d.put("beta_end", 0.012);
                d.put("beta_schedule", "scaled_linear");
                d.put("set_alpha_to_one", true);
                d.put("timestep_spacing", "leading");
            }
            case LMS, EULER, EULER_ANCESTRAL, UNIPC -> { }
        }
        return d;
    }

    private static final ObjectNode BASE_DEFAULTS = baseDefaults();

    private static ObjectNode baseDefaults() {
        ObjectNode d = JSON.createObjectNode();
        d.put("num_train_timesteps", 1000);
        d.put("beta_start", 0.0001);
        d.put("beta_end", 0.02);
        d.put("beta_schedule", "linear");
        d.putNull("trained_betas");
        d.put("prediction_type", "epsilon");
        d.put("timestep_spacing", "linspace");
        d.put("steps_offset", 0);
        d.put("set_alpha_to_one", false);
        d.put("clip_sample", false);
        d.put("clip_sample_range", 1.0);
        d.put("thresholding", false);
        d.put("dynamic_thresholding_ratio", 0.995);
        d.put("sample_max_value", 1.0);
        d.put("skip_prk_steps", false);
        d.put("variance_type", "fixed_small");
        d.put("rescale_betas_zero_snr", false);
        d.put("use_karras_sigmas", false);
        d.put("use_exponential_sigmas", false);
        d.put("use_beta_sigmas", false);
        d.put("use_lu_lambdas", false);
        d.putNull("sigma_min");
        d.putNull("sigma_max");
        d.put("interpolation_type", "linear");
        d.put("timestep_type", "discrete");
        d.put("final_sigmas_type", "zero");
        d.put("solver_order", 2);
        d.put("algorithm_type", "dpmsolver++");
        d.put("solver_type", "bh2");
        d.put("lower_order_final", true);
        d.put("euler_at_final", false);
        d.put("lambda_min_clipped", Double.NEGATIVE_INFINITY);
        d.put("predict_x0", true);
        d.set("disable_corrector", JSON.createArrayNode());
        d.put("original_inference_steps", 50);
        d.put("timestep_scaling", 10.0);
        return d;
    }

    private static SchedulerConfig fromResolved(ObjectNode n) {
        return new SchedulerConfig(
                integer(n, "num_train_timesteps"),
                number(n, "beta_start"),
                number(n, "beta_end"),
                choice(n, "beta_schedule", BetaSchedule.values(), b -> b.json),
                doubles(n, "trained_betas"),
                choice(n, "prediction_type", PredictionType.values(), PredictionType::configName),
                choice(n, "timestep_spacing", TimestepSpacing.values(), s -> s.json),
                integer(n, "steps_offset"),
                bool(n, "set_alpha_to_one"),
                bool(n, "clip_sample"),
                number(n, "clip_sample_range"),
                bool(n, "thresholding"),
                number(n, "dynamic_thresholding_ratio"),
                number(n, "sample_max_value"),
                bool(n, "skip_prk_steps"),
                text(n, "variance_type"),
                bool(n, "rescale_betas_zero_snr"),
                bool(n, "use_karras_sigmas"),
                bool(n, "use_exponential_sigmas"),
                bool(n, "use_beta_sigmas"),
                bool(n, "use_lu_lambdas"),
                n.get("sigma_min").isNull() ? null : number(n, "sigma_min"),
                n.get("sigma_max").isNull() ? null : number(n, "sigma_max"),
                text(n, "interpolation_type"),
                text(n, "timestep_type"),
                text(n, "final_sigmas_type"),
                integer(n, "solver_order"),
                text(n, "algorithm_type"),
                text(n, "solver_type"),
                bool(n, "lower_order_final"),
                bool(n, "euler_at_final"),
                number(n, "lambda_min_clipped"),
                bool(n, "predict_x0"),
                integers(n, "disable_corrector"),
                n.get("original_inference_steps").isNull() ? null : integer(n, "original_inference_steps"),
                number(n, "timestep_scaling"));
    }

    // ---- typed reads that name the key when the value has the wrong type ----

    private static int integer(ObjectNode n, String key) {
        JsonNode v = n.get(key);
        require(v.isIntegralNumber() || (v.isNumber() && v.asDouble() == Math.rint(v.asDouble())),
                key + " must be an integer, got " + v);
        return v.asInt();
    }

    private static double number(ObjectNode n, String key) {
        JsonNode v = n.get(key);
        // Python's json writes -Infinity for lambda_min_clipped; Jackson reads it as text.
        if (v.isTextual() && v.asText().matches("-?Infinity")) return Double.parseDouble(v.asText());
        require(v.isNumber(), key + " must be a number, got " + v);
        return v.asDouble();
    }

    private static boolean bool(ObjectNode n, String key) {
        JsonNode v = n.get(key);
        require(v.isBoolean(), key + " must be true or false, got " + v);
        return v.asBoolean();
    }

    private static String text(ObjectNode n, String key) {
        JsonNode v = n.get(key);
        if (v.isNull()) return null;
        require(v.isTextual(), key + " must be a string, got " + v);
        return v.asText();
    }

    private static <E extends Enum<E>> E choice(ObjectNode n, String key, E[] values,
                                                java.util.function.Function<E, String> json) {
        String s = text(n, key);
        List<String> names = new ArrayList<>();
        for (E e : values) {
            if (json.apply(e).equals(s)) return e;
            names.add(json.apply(e));
        }
        throw new JDiffusionException(key + " '" + s + "' is not supported; use one of " + String.join(", ", names));
    }

    private static List<Double> doubles(ObjectNode n, String key) {
        JsonNode v = n.get(key);
        if (v.isNull()) return null;
        require(v.isArray(), key + " must be a list of numbers, got " + v.getNodeType());
        List<Double> out = new ArrayList<>();
        v.forEach(x -> {
            require(x.isNumber(), key + " must hold numbers only, got " + x);
            out.add(x.asDouble());
        });
        return out;
    }

    private static List<Integer> integers(ObjectNode n, String key) {
        JsonNode v = n.get(key);
        if (v.isNull()) return List.of();
        require(v.isArray(), key + " must be a list of integers, got " + v);
        List<Integer> out = new ArrayList<>();
        v.forEach(x -> {
            require(x.isIntegralNumber(), key + " must hold integers only, got " + x);
            out.add(x.asInt());
        });
        return out;
    }

    static void require(boolean ok, String message) {
        if (!ok) throw new JDiffusionException("scheduler config: " + message);
    }
}
