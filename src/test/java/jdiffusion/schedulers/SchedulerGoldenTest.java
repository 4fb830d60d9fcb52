package jdiffusion.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import jdiffusion.Golden;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every {@code sched_*} golden case: the scheduler built with {@code from_config(source, **overrides)},
 * then the trajectory of case.json's {@code trajectory_protocol} with the fake model
 * {@code 0.1 * scale_model_input(x, t) + E}, each step inside its own PointerScope (so the run's kept
 * history must survive the scope), then add_noise / get_velocity on a fresh run.
 * Tolerance: max|out - ref| <= 1e-5 * max(1, max|ref|) per tensor and step.
 */
class SchedulerGoldenTest {
    private static final double RTOL = 1e-5;
    private static final Map<String, String> SUMMARY = new TreeMap<>();

    static Stream<String> cases() {
        try (Stream<java.nio.file.Path> dirs = Files.list(Golden.root())) {
            List<String> names = dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("sched_")).sorted().toList();
            assertTrue(names.size() >= 40, "expected 40+ sched_* cases, found " + names.size());
            return names.stream();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void schedulerCommonTables() {
        try (Golden g = Golden.open("scheduler_common"); PointerScope ignored = new PointerScope()) {
            Scheduler s = Schedulers.create("DDPMScheduler", SchedulerConfigFile.parse(g.json.get("scheduler_config").toString()), Map.of());
            float[] betas = s.betas();
            float[] ac = s.alphasCumprod();
            float[] alphas = new float[betas.length];
            for (int i = 0; i < alphas.length; i++) alphas[i] = 1f - betas[i];
            Golden.assertClose("betas", Tensors.fromFloats(betas, betas.length), g.tensor("betas"), 1e-6, 1e-7);
            Golden.assertClose("alphas", Tensors.fromFloats(alphas, alphas.length), g.tensor("alphas"), 1e-6, 1e-7);
            Golden.assertClose("alphas_cumprod", Tensors.fromFloats(ac, ac.length), g.tensor("alphas_cumprod"), 1e-6, 1e-7);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesDiffusers(String caseName) {
        try (Case g = Case.open(caseName); PointerScope outer = new PointerScope()) {
            JsonNode c = g.json;
            Scheduler scheduler = Schedulers.create(c.get("scheduler_class").asText(),
                    SchedulerConfigFile.parse(c.get("scheduler_config_source").toString()),
                    new ObjectMapper().convertValue(c.get("overrides"), Map.class));
            int n = c.get("num_inference_steps").asInt();
            assertEquals(c.get("order").asInt(), scheduler.order(), "order");
            Errors err = new Errors(caseName);

            SchedulerRun run = scheduler.start(n);
            // 1. schedule
            Schedule schedule = run.schedule();
            Tensor refTimesteps = g.tensor("timesteps");
            assertEquals(!refTimesteps.is_floating_point(), schedule.integerTimesteps(), "timesteps dtype");
            if (schedule.integerTimesteps()) {
                assertArrayEquals(Tensors.toLongs(refTimesteps), Tensors.toLongs(run.timesteps()), "timesteps");
            } else {
                err.check("timesteps", run.timesteps(), refTimesteps);
            }
            if (g.has("sigmas")) {
                float[] sigmas = schedule.sigmas();
                err.check("sigmas", Tensors.fromFloats(sigmas, sigmas.length), g.tensor("sigmas"));
            }
            double initSigma = c.get("init_noise_sigma").asDouble();
            assertTrue(Math.abs(run.initNoiseSigma() - initSigma) <= RTOL * Math.max(1, initSigma),
                    "init_noise_sigma " + run.initNoiseSigma() + " != " + initSigma);

            // 2. trajectory, one PointerScope per step
            Tensor e = g.tensor("model_noise_E");
            Tensor x = g.tensor("initial_noise").mul(new Scalar(run.initNoiseSigma()));
            err.check("initial_sample", x, g.tensor("initial_sample"));
            TorchGenerator generator = new TorchGenerator(stepSeed(c));
            Tensor refScaled = g.has("scaled_model_inputs") ? g.tensor("scaled_model_inputs") : null;
            Tensor refPrev = g.tensor("prev_samples");
            Tensor refX0 = g.has("pred_original_samples") ? g.tensor("pred_original_samples") : null;
            assertEquals(run.size(), Tensors.shape(refPrev)[0], "number of step calls");
            for (int i = 0; i < run.size(); i++) {
                try (PointerScope step = new PointerScope()) {
                    Tensor xin = run.scaleModelInput(x);
                    if (refScaled != null) err.check("scaled_model_inputs", xin, refScaled.select(0, i));
                    Tensor modelOutput = xin.mul(new Scalar(0.1f)).add(e);
                    StepOutput out = run.step(modelOutput, x, generator);
                    err.check("prev_samples", out.prevSample(), refPrev.select(0, i));
                    if (refX0 != null) err.check("pred_original_samples", out.predOriginalSample(), refX0.select(0, i));
                    else assertEquals(null, out.predOriginalSample(), "pred_original_sample where diffusers has none");
                    x = out.prevSample();
                    outer.attach(x);   // the next step's input outlives this step's scope
                }
            }
            assertTrue(run.finished());
            err.check("final_sample", x, g.tensor("final_sample"));

            // 3. add_noise and get_velocity on a fresh run
            try (SchedulerRun fresh = scheduler.start(n)) {
                Tensor original = g.tensor("add_noise_original");
                Tensor noise = g.tensor("add_noise_noise");
                err.check("add_noise", fresh.addNoise(original, noise, g.tensor("add_noise_timesteps")), g.tensor("add_noise_result"));
                if (g.has("velocity_result")) {
                    err.check("velocity", fresh.getVelocity(original, noise, g.tensor("velocity_timesteps")), g.tensor("velocity_result"));
                }
            }
            SUMMARY.put(caseName, err.summary());
            err.assertAll();
        }
    }

    @AfterAll
    static void printSummary() {
        System.out.println("max |out - ref| / max(1, max|ref|) per case:");
        SUMMARY.forEach((k, v) -> System.out.printf("  %-28s %s%n", k, v));
    }

    /**
     * A sched_* folder. Not {@link Golden#open}: the DPM/UniPC case.json files hold Python's
     * {@code -Infinity} (lambda_min_clipped), which needs Jackson's non-numeric numbers.
     */
    record Case(JsonNode json, SafetensorsFile tensors) implements AutoCloseable {
        static final ObjectMapper JSON = JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

        static Case open(String name) {
            java.nio.file.Path dir = Golden.root().resolve(name);
            try {
                return new Case(JSON.readTree(dir.resolve("case.json").toFile()), SafetensorsFile.open(dir.resolve("tensors.safetensors")));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        boolean has(String name) {
            return tensors.contains(name);
        }

        Tensor tensor(String name) {
            return tensors.load(name);
        }

        @Override
        public void close() {
            tensors.close();
        }
    }

    /** The seed of {@code step_generator = Generator('cpu').manual_seed(S)} in the protocol. */
    static long stepSeed(JsonNode c) {
        Pattern p = Pattern.compile("step_generator = Generator\\('cpu'\\)\\.manual_seed\\((\\d+)\\)");
        for (JsonNode line : c.get("trajectory_protocol")) {
            Matcher m = p.matcher(line.asText());
            if (m.find()) return Long.parseLong(m.group(1));
        }
        throw new AssertionError("no step generator seed in the protocol");
    }

    /** The worst relative error per tensor name, and the list of violations. */
    static final class Errors {
        private final String caseName;
        private final Map<String, Double> worst = new TreeMap<>();
        private final List<String> failures = new ArrayList<>();

        Errors(String caseName) {
            this.caseName = caseName;
        }

        void check(String what, Tensor actual, Tensor expected) {
            assertArrayEquals(Tensors.shape(expected), Tensors.shape(actual), what + " shape");
            double diff = Tensors.maxAbsDiff(actual, expected);
            double scale = Math.max(1, Tensors.maxAbs(expected));
            double ratio = diff / scale;
            if (!(ratio <= RTOL)) failures.add(String.format("%s: max|diff| %.3e > %.0e * %.3e", what, diff, RTOL, scale));
            worst.merge(what, ratio, Math::max);
        }

        String summary() {
            StringBuilder sb = new StringBuilder();
            worst.forEach((k, v) -> sb.append(String.format("%s=%.1e ", k, v)));
            return sb.toString().trim();
        }

        void assertAll() {
            System.out.println(caseName + ": " + summary());
            assertTrue(failures.isEmpty(), caseName + ": " + String.join("; ", failures.subList(0, Math.min(5, failures.size()))));
        }
    }
}
