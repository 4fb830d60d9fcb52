package jdiffusion.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.Map;
import java.util.stream.Stream;
import jdiffusion.Golden;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Replays the scheduler half of every {@code pipe_*} golden: the pipeline's resolved scheduler config,
 * {@code timesteps_used} (txt2img and img2img with strength, via {@link Scheduler#startImg2Img}), the
 * initial latents (init_noise_sigma, or add_noise of the init latents at the first timestep of the
 * truncated schedule with set_begin_index semantics), the scaled UNet input, and each recorded
 * {@code step(model_output, t, sample)} with the generator advanced exactly as the pipeline does.
 */
class PipelineTraceReplayTest {
    private static final double RTOL = 1e-5;

    static Stream<String> cases() {
        try (Stream<java.nio.file.Path> dirs = Files.list(Golden.root())) {
            return dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("pipe_"))
                    .filter(n -> !n.startsWith("pipe_ddpm_uncond") && !n.startsWith("pipe_ddim_uncond")) // pixel space: PixelPipelinesTest
                    .sorted().toList().stream();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void replaysTheSchedulerSteps(String caseName) {
        try (SchedulerGoldenTest.Case g = SchedulerGoldenTest.Case.open(caseName); PointerScope ignored = new PointerScope()) {
            JsonNode c = g.json();
            JsonNode kwargs = c.get("call_kwargs");
            int steps = kwargs.get("num_inference_steps").asInt();
            JsonNode overrides = c.get("scheduler_overrides");
            // the upscaler case records the file it read (scheduler_config_source), the others the resolved config
            JsonNode config = c.has("scheduler_config") ? c.get("scheduler_config") : c.get("scheduler_config_source");
            Scheduler scheduler = Schedulers.fromConfig(SchedulerConfigFile.parse(config.toString()),
                    overrides == null ? Map.of() : new ObjectMapper().convertValue(overrides, Map.class));
            if (kwargs.has("eta")) scheduler = ((DDIMScheduler) scheduler).withEta(kwargs.get("eta").asDouble());
            boolean img2img = kwargs.has("strength") && g.has("init_latents");
            SchedulerRun run = img2img ? scheduler.startImg2Img(steps, kwargs.get("strength").asDouble()) : scheduler.start(steps);

            // timesteps
            double[] used = new double[c.get("timesteps_used").size()];
            for (int i = 0; i < used.length; i++) used[i] = c.get("timesteps_used").get(i).asDouble();
            double[] ours = new double[run.size()];
            for (int i = 0; i < ours.length; i++) ours[i] = run.timestepValue(i);
            assertArrayEquals(used, ours, caseName + " timesteps_used");

            // initial latents, advancing the generator like the pipeline
            TorchGenerator generator = new TorchGenerator(0);
            Tensor noise = g.tensor("initial_noise");
            Tensor latents;
            if (img2img) {
                generator.randn(Tensors.shape(noise));   // the VAE latent_dist.sample
                generator.randn(Tensors.shape(noise));   // the noise
                latents = run.addNoise(g.tensor("init_latents"), noise, run.timestep(0).reshape(1));
            } else {
                generator.randn(Tensors.shape(noise));
                latents = noise.mul(new Scalar(run.initNoiseSigma()));
            }
            check(caseName + " initial_latents", latents, g.tensor("initial_latents"));

            // the steps, each from the recorded sample and model output
            Tensor modelOutputs = g.tensor("trace_step_model_output");
            Tensor prevSamples = g.tensor("trace_step_prev_sample");
            Tensor samples = g.has("trace_step_sample") ? g.tensor("trace_step_sample") : null;
            Tensor unetInputs = g.tensor("trace_unet_input");
            assertEquals(run.size(), Tensors.shape(modelOutputs)[0], "step calls");
            long batch = Tensors.shape(latents)[0];
            long channels = Tensors.shape(latents)[1];
            Tensor x = latents;
            for (int i = 0; i < run.size(); i++) {
                if (samples != null) x = samples.select(0, i);
                assertEquals(run.timestepValue(i), SchedulerTensors.values(g.tensor("trace_step_timestep").select(0, i))[0], "timestep " + i);
                // the UNet input is [negative; positive] of scale_model_input(x); inpaint appends mask channels
                Tensor unetIn = unetInputs.select(0, i).narrow(0, 0, batch).narrow(1, 0, channels);
                check(caseName + " unet input " + i, run.scaleModelInput(x), unetIn);
                StepOutput out = run.step(modelOutputs.select(0, i), x, generator);
                check(caseName + " prev_sample " + i, out.prevSample(), prevSamples.select(0, i));
                x = prevSamples.select(0, i);
            }
        }
    }

    private static void check(String what, Tensor actual, Tensor expected) {
        assertArrayEquals(Tensors.shape(expected), Tensors.shape(actual), what + " shape");
        double diff = Tensors.maxAbsDiff(actual, expected);
        double scale = Math.max(1, Tensors.maxAbs(expected));
        System.out.printf("%-45s max|diff| / max(1, max|ref|) = %.2e%n", what, diff / scale);
        assertTrue(diff <= RTOL * scale, what + ": max|diff| " + diff + " > " + RTOL + " * " + scale);
    }
}
