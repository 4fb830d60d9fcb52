package jdiffusion.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.models.unet2d.UNet2DModel;
import jdiffusion.pipelines.ColorLoss;
import jdiffusion.pipelines.DDIMPipeline;
import jdiffusion.pipelines.PixelGuidance;
import jdiffusion.pipelines.PixelRequest;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * docs/pixel-diffusion.md's hand-written guided loop (the course's unit 2 "Guidance" cell), compiled and
 * run: it must give what DDIMPipeline with a ColorLoss gives for the same seed.
 */
class PixelGuidedLoopTest {
    @Test
    void theDocsLoopEqualsTheGuidedPipeline() throws Exception {
        Path folder = Golden.model("ddpm-tiny-pipeline");
        UNet2DModel unet = UNet2DModel.load(folder.resolve("unet"), ScalarType.Float, Tensors.CPU);
        DDIMScheduler scheduler = (DDIMScheduler) Schedulers.create("DDIMScheduler",
                SchedulerConfigFile.read(folder.resolve("scheduler/scheduler_config.json")), Map.of());
        Tensor mine;
        // DOCS:begin
        try (var scope = new PointerScope()) {
            float[] alphasCumprod = scheduler.alphasCumprod();
            ColorLoss colorLoss = new ColorLoss(new float[] {0.1f, 0.9f, 0.5f});
            double guidanceLossScale = 40;
            SchedulerRun run = scheduler.start(4);
            TorchGenerator generator = new TorchGenerator(42);
            Tensor x = generator.randn(2, 3, 32, 32);
            for (int i = 0; i < run.size(); i++) {
                Tensor t = run.timestep(i);
                Tensor noisePred;
                try (var noGrad = new NoGradGuard()) {
                    noisePred = unet.forward(x, t, null);
                }
                // predict x0 from a copy of x that records a graph, then the loss on it
                Tensor xg = x.detach().requires_grad_(true);
                double abar = alphasCumprod[(int) run.timestepValue(i)];
                Tensor x0 = xg.sub(noisePred.mul(new Scalar(Math.sqrt(1 - abar)))).div(new Scalar(Math.sqrt(abar)))
                        .clamp(new ScalarOptional(new Scalar(-1.0)), new ScalarOptional(new Scalar(1.0)));
                Tensor loss = colorLoss.apply(x0).mul(new Scalar(guidanceLossScale));
                // move x against the gradient, then take the scheduler step with the same noise prediction
                Tensor grad = torch.grad(new TensorVector(loss), new TensorVector(xg)).get(0);
                try (var noGrad = new NoGradGuard()) {
                    x = run.step(noisePred, x.sub(grad), generator).prevSample();
                }
            }
            // DOCS:end
            mine = x.clone();
            mine.retainReference();
        }
        Tensor pipeline;
        try (var pipe = new DDIMPipeline(unet, scheduler)) {
            var guidance = new PixelGuidance(new ColorLoss(new float[] {0.1f, 0.9f, 0.5f}), 40, false);
            pipeline = pipe.call(new PixelRequest(2, 4, 42, null, guidance)).images();
        }
        try (var scope = new PointerScope()) {
            Tensor mineImages = mine.div(new Scalar(2)).add(new Scalar(0.5))
                    .clamp(new ScalarOptional(new Scalar(0.0)), new ScalarOptional(new Scalar(1.0))).permute(0, 2, 3, 1);
            Golden.assertClose("docs loop vs pipeline", mineImages.contiguous(), pipeline, 1e-4, 1e-5);
        }

        String source = Files.readString(Path.of("src/test/java/jdiffusion/examples/PixelGuidedLoopTest.java"));
        String snippet = source.substring(source.indexOf("// DOCS:begin") + 14, source.indexOf("            // DOCS:end"));
        String docs = Files.readString(Path.of("docs/pixel-diffusion.md"));
        for (String line : snippet.strip().lines().map(String::strip).filter(l -> !l.isEmpty()).toList()) {
            assertTrue(docs.contains(line), "docs/pixel-diffusion.md lacks the loop line: " + line);
        }
    }
}
