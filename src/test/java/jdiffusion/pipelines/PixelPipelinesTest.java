package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.models.unet2d.ClassConditionedUnet;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DDPMPipeline / DDIMPipeline, the course's class-conditioned sampling loop and colour guidance against diffusers 0.31. */
class PixelPipelinesTest {
    private static double rtol(Golden g) {
        return g.json.path("suggested_tolerance").path("rtol").asDouble(1e-4);
    }

    private static double atol(Golden g) {
        return g.json.path("suggested_tolerance").path("atol").asDouble(1e-5);
    }

    /** "models/ddpm-tiny-pipeline (model_index.json: ...)" -> the folder. */
    private static Path folder(Golden g) {
        return Golden.root().resolve(g.json.get("pipeline_folder").asText().split(" ")[0]);
    }

    /** Records the sample after every step. */
    private static final class Trace implements StepCallback {
        final List<Tensor> samples = new ArrayList<>();

        @Override
        public Tensor onStep(int step, int totalSteps, double timestep, Tensor latents) {
            Tensor copy = latents.clone().detach();
            copy.retainReference(); // outlives the step's scope
            samples.add(copy);
            return null;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"pipe_ddpm_uncond", "pipe_ddim_uncond", "pipe_ddim_uncond_eta1"})
    void pipelinesMatchDiffusers(String caseName) {
        try (Golden g = Golden.open(caseName)) {
            JsonNode kw = g.json.get("call_kwargs");
            PixelRequest request = PixelRequest.of(kw.get("batch_size").asInt(), kw.get("num_inference_steps").asInt(),
                    g.json.get("generator_seed").asLong());
            boolean ddim = "DDIMPipeline".equals(g.json.get("pipeline_class").asText());
            Trace trace = new Trace();
            PixelResult out;
            if (ddim) {
                try (var pipe = DDIMPipeline.fromPretrained(folder(g), kw.path("eta").asDouble(0))) {
                    out = pipe.call(request, trace);
                }
            } else {
                try (var pipe = DDPMPipeline.fromPretrained(folder(g))) {
                    out = pipe.call(request, trace);
                }
            }
            try (var scope = new PointerScope()) {
                Golden.assertClose(caseName + " initial_noise", out.initialNoise(), g.tensor("initial_noise"), 0, 1e-5);
                Tensor prev = g.tensor("trace_step_prev_sample");
                for (int i = 0; i < trace.samples.size(); i++) {
                    Golden.assertClose(caseName + " step " + i, trace.samples.get(i), prev.get(i), rtol(g), atol(g));
                }
                Golden.assertClose(caseName + " image", out.images(), g.tensor("image"), 0, 1e-3);
            }
        }
    }

    @Test
    void classConditionedSamplingLoopMatchesTheCourse() {
        try (Golden g = Golden.open("sample_class_concat_ddpm")) {
            String model = g.json.get("model").asText().split(" ")[0];
            var sched = (DDPMScheduler) Schedulers.create("DDPMScheduler",
                    SchedulerConfigFile.parse(g.json.get("scheduler_config").toString()), Map.of());
            var net = (ClassConditionedUnet) PixelDenoiser.load(Golden.root().resolve(model), ScalarType.Float, Tensors.CPU);
            try (var scope = new PointerScope(); var noGrad = new org.bytedeco.pytorch.NoGradGuard();
                 var run = sched.start(g.json.get("num_inference_steps").asInt())) {
                var gen = new jdiffusion.tensor.TorchGenerator(g.json.get("step_generator_seed").asLong());
                Tensor x = g.tensor("initial_x");
                Tensor labels = g.tensor("class_labels");
                Golden.assertClose("betas", Tensors.fromFloats(sched.betas(), sched.betas().length), g.tensor("betas"), 0, 1e-7);
                for (int i = 0; i < run.size(); i++) {
                    Tensor eps = net.forward(x, run.currentTimestep(), labels);
                    Golden.assertClose("model_output " + i, eps, g.tensor("model_outputs").get(i), rtol(g), atol(g));
                    x = run.step(eps, x, gen).prevSample();
                    Golden.assertClose("x_after_step " + i, x, g.tensor("x_after_step").get(i), rtol(g), atol(g));
                }
            } finally {
                net.close();
            }
        }
    }

    @Test
    void theClassLabelIsCheckedBeforeAnythingRuns() {
        try (var pipe = DDPMPipeline.fromPretrained(Golden.model("ddpm-tiny-pipeline"))) {
            var e = assertThrows(JDiffusionException.class, () -> pipe.call(new PixelRequest(1, 2, 0, 3, null)));
            assertEquals("--class-label was given, but this model is not class-conditioned", e.getMessage());
        }
    }

    /** The course's colour-guided loop, without and with the gradient through the UNet. */
    @ParameterizedTest
    @ValueSource(strings = {"guidance_color_ddim", "guidance_color_ddim_unetgrad"})
    void colourGuidanceMatchesTheCourse(String caseName) {
        try (Golden g = Golden.open(caseName)) {
            var sched = (DDIMScheduler) Schedulers.create("DDIMScheduler",
                    SchedulerConfigFile.parse(g.json.get("scheduler_config").toString()), Map.of());
            float[] colour = new float[3];
            for (int i = 0; i < 3; i++) colour[i] = (float) g.json.get("target_color").get(i).asDouble();
            var guidance = new PixelGuidance(new ColorLoss(colour), g.json.get("guidance_loss_scale").asDouble(),
                    g.json.get("grad_through_unet").asBoolean());
            Tensor initial = g.tensor("initial_x");
            var request = new PixelRequest((int) initial.size(0), g.json.get("num_inference_steps").asInt(),
                    g.json.get("x_seed").asLong(), null, guidance);
            Trace trace = new Trace();
            PixelResult out;
            try (var pipe = new DDIMPipeline(PixelDenoiser.load(Golden.root().resolve(g.json.get("model").asText()),
                    ScalarType.Float, Tensors.CPU), sched)) {
                out = pipe.call(request, trace);
            }
            try (var scope = new PointerScope()) {
                Golden.assertClose(caseName + " initial_x", out.initialNoise(), initial, 0, 1e-5);
                Golden.assertClose(caseName + " losses", Tensors.fromFloats(out.guidanceLoss(), out.guidanceLoss().length),
                        g.tensor("trace_loss"), rtol(g), atol(g));
                Tensor next = g.tensor("trace_x_next");
                for (int i = 0; i < trace.samples.size(); i++) {
                    Golden.assertClose(caseName + " x_next " + i, trace.samples.get(i), next.get(i), rtol(g), atol(g));
                }
                Golden.assertClose(caseName + " final_image", out.images(), g.tensor("final_image"), rtol(g), atol(g));
            }
        }
    }

    @Test
    void aGuideColourThatIsNotAColourIsAOneLineError() {
        assertEquals("--guide-color must be comma-separated numbers in [0, 1] such as 0.1,0.9,0.5, got \"red\"",
                assertThrows(JDiffusionException.class, () -> ColorLoss.parse("red")).getMessage());
        assertThrows(JDiffusionException.class, () -> ColorLoss.parse("0.1,2,0.5"));
    }

    /**
     * The colour measure: the mean colour of guided samples is nearer the target than that of
     * unguided samples from the same seed (distances printed for the report). The loss is a mean over
     * every element, so its per-pixel pull shrinks with the batch and image size: the notebook's scale 40
     * moves this random tiny model a little, 1000 moves it most of the way.
     */
    @Test
    void colourGuidanceMovesTheMeanColourTowardTheTarget() {
        float[] target = {0.1f, 0.9f, 0.5f};
        try (var pipe = DDIMPipeline.fromPretrained(Golden.model("ddpm-tiny-pipeline"), 0.0)) {
            double off = colourDistance(pipe, target, 0);
            double notebook = colourDistance(pipe, target, 40);
            double strong = colourDistance(pipe, target, 1000);
            org.junit.jupiter.api.Assertions.assertTrue(notebook < off, "scale 40: " + notebook + " vs unguided " + off);
            org.junit.jupiter.api.Assertions.assertTrue(strong < 0.5 * off, "scale 1000: " + strong + " vs unguided " + off);
        }
    }

    private static double colourDistance(DDIMPipeline pipe, float[] target, double scale) {
        var guidance = scale == 0 ? null : new PixelGuidance(new ColorLoss(target), scale, false);
        Tensor images = pipe.call(new PixelRequest(2, 10, 7, null, guidance)).images(); // [2, 32, 32, 3]
        try (var scope = new PointerScope()) {
            float[] mean = Tensors.toFloats(images.mean(new long[] {0, 1, 2}, false, new org.bytedeco.pytorch.ScalarTypeOptional()));
            double d = 0;
            for (int c = 0; c < 3; c++) d += (mean[c] - target[c]) * (mean[c] - target[c]);
            System.out.printf("colour guidance scale %4.0f: mean colour %.3f,%.3f,%.3f, distance to target %.3f%n",
                    scale, mean[0], mean[1], mean[2], Math.sqrt(d));
            return Math.sqrt(d);
        }
    }
}
