package jdiffusion.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.image.Images;
import jdiffusion.pipelines.ClassifierFreeGuidance;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.prompts.PromptEmbedsPair;
import jdiffusion.prompts.PromptOptions;
import jdiffusion.schedulers.SchedulerRun;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The hand-written sampling loop of docs/library.md (the course's "DIY loop"), compiled and run: it must give
 * exactly what {@code pipe.generate} gives for the same request.
 */
class HandWrittenLoopTest {
    @Test
    void theReadmeLoopEqualsThePipeline() throws Exception {
        String model = Golden.model("sd1-tiny-pipeline").toString();
        StableDiffusionPipeline pipe = StableDiffusionPipeline.load(model, PipelineOptions.defaults());
        Tensor mine;
        BufferedImage image;
        // README:begin
        try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            // 1. the prompt and the negative prompt as text-encoder states: [2, 77, C]
            PromptEmbedsPair text = pipe.promptEncoder().encodePair("a red circle", "blurry", PromptOptions.DIFFUSERS);
            Tensor context = text.guidanceBatch();
            // 2. a scheduler run and the starting noise (torch.randn with the same seed)
            SchedulerRun run = pipe.scheduler("Euler a", 0).start(8);
            TorchGenerator generator = new TorchGenerator(42);
            Tensor latents = generator.randn(1, 4, 8, 8).mul(new Scalar(run.initNoiseSigma()));
            // 3. the loop: one batched UNet call for the two halves of classifier-free guidance
            for (int i = 0; i < run.size(); i++) {
                Tensor input = run.scaleModelInput(ClassifierFreeGuidance.batch(latents));
                Tensor noise = pipe.unet().forward(input, run.timestep(i), context);
                Tensor guided = ClassifierFreeGuidance.combine(noise, 7.5);
                latents = run.step(guided, latents, generator).prevSample();
            }
            // 4. back to pixels
            Tensor decoded = pipe.vae().decode(latents.div(new Scalar(pipe.vae().scalingFactor())));
            image = Images.fromTensor(decoded)[0];
            // README:end
            mine = latents.clone();
            mine.retainReference();
        }
        GenerationResult r = pipe.generate(GenerationRequest.builder("a red circle").negativePrompt("blurry")
                .sampler("Euler a").steps(8).guidanceScale(7.5).seed(42).size(16, 16).build());
        Golden.assertClose("hand-written loop vs pipeline", mine, r.finalLatents(), 0, 0);
        assertEquals(16, image.getWidth());
        pipe.close();

        // docs/library.md shows this very code.
        String source = Files.readString(Path.of("src/test/java/jdiffusion/examples/HandWrittenLoopTest.java"));
        String snippet = source.substring(source.indexOf("// README:begin") + 16, source.indexOf("            // README:end"));
        String readme = Files.readString(Path.of("docs/library.md"));
        for (String line : snippet.strip().lines().map(String::strip).toList()) {
            assertTrue(readme.contains(line), "docs/library.md lacks the loop line: " + line);
        }
    }
}
