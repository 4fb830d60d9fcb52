package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicInteger;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.prompts.LongPromptMode;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** What the goldens do not show: cancellation, callbacks, long prompts, bf16, bad requests. */
class PipelineBehaviourTest {
    private static StableDiffusionPipeline pipe;

    @BeforeAll
    static void load() {
        pipe = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(), PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        if (pipe != null) pipe.close();
    }

    private static GenerationRequest.Builder request() {
        return GenerationRequest.builder("a photo of an astronaut riding a horse on mars")
                .negativePrompt("blurry").steps(4).guidanceScale(6).seed(0).size(48, 32).sampler("Euler a");
    }

    @Test
    void aCancelledRunStopsAndTheNextOneIsUnaffected() {
        AtomicInteger calls = new AtomicInteger();
        assertThrows(GenerationCancelledException.class, () -> pipe.generate(request().build(), (step, total, t, x) -> {
            calls.incrementAndGet();
            if (step == 1) throw new GenerationCancelledException("stop");
            return null;
        }));
        assertEquals(2, calls.get());
        GenerationResult a = pipe.generate(request().build());
        GenerationResult b = pipe.generate(request().build());
        Golden.assertClose("same seed twice", a.finalLatents(), b.finalLatents(), 0, 0);
    }

    @Test
    void theCallbackMayReplaceTheLatents() {
        GenerationResult r = pipe.generate(request().build(), (step, total, t, x) -> step == total - 1 ? x.mul(new org.bytedeco.pytorch.Scalar(0)) : null);
        assertEquals(0.0, Tensors.maxAbs(r.finalLatents()));
    }

    @Test
    void longPromptsAreCutOrChunkedAndSaySo() {
        String longPrompt = "a red circle, ".repeat(40);
        GenerationResult cut = pipe.generate(request().steps(1).build().toBuilder().build());
        assertTrue(cut.warnings().isEmpty(), cut.warnings().toString());
        GenerationResult truncated = pipe.generate(GenerationRequest.builder(longPrompt).steps(1).size(16, 16).build());
        assertTrue(truncated.warnings().getFirst().contains("truncated"), truncated.warnings().toString());
        GenerationResult chunked = pipe.generate(GenerationRequest.builder(longPrompt).steps(1).size(16, 16)
                .longPrompts(LongPromptMode.CHUNK).build());
        assertTrue(chunked.warnings().getFirst().contains("chunks of 75"), chunked.warnings().toString());
        assertTrue(chunked.parameters().getFirst().format().contains("Prompt style: A1111"));
    }

    @Test
    void deepCacheSkipsTheDeepBlocksBetweenFullStepsAndIsRecorded() {
        GenerationResult plain = pipe.generate(request().steps(6).build());
        // interval 1: every step a full call, the plain run exactly
        GenerationResult everyStep = pipe.generate(request().steps(6).deepCache(1).build());
        Golden.assertClose("DeepCache 1", everyStep.finalLatents(), plain.finalLatents(), 0, 0);
        // interval 2: steps 1, 3, 5 reuse the deep features, so the latents move, a little
        GenerationResult cached = pipe.generate(request().steps(6).deepCache(2).build());
        double diff = Tensors.maxAbs(cached.finalLatents().sub(plain.finalLatents()));
        assertTrue(diff > 0, "DeepCache 2 gave the plain latents");
        assertTrue(torch.isfinite(cached.finalLatents()).all().item_bool());
        assertTrue(cached.parameters().getFirst().format().contains("DeepCache: 2"), cached.parameters().getFirst().format());
        assertTrue(!plain.parameters().getFirst().format().contains("DeepCache"));
        GenerationRequest.Builder again = GenerationRequest.builder(null);
        Infotext.applyTo(cached.parameters().getFirst(), again, option -> false); // --from reads it back
        assertEquals(2, again.build().deepCache());
        PngParameters huge = PngParameters.parse(cached.parameters().getFirst().format().replace("DeepCache: 2", "DeepCache: 4294967299"));
        assertThrows(JDiffusionException.class, () -> Infotext.applyTo(huge, GenerationRequest.builder(null), option -> false));
        var e = assertThrows(JDiffusionException.class, () -> request().deepCache(-1).build());
        assertTrue(e.getMessage().startsWith("--deepcache must be"), e.getMessage());
    }

    @Test
    void badRequestsAreRefusedClearly() {
        var e = assertThrows(JDiffusionException.class, () -> pipe.generate(request().sampler("Euler b").build()));
        assertTrue(e.getMessage().contains("valid names"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> pipe.generate(request().eta(0.5).build()));
        assertTrue(e.getMessage().contains("DDIM"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> request().size(50, 32).build());
        assertTrue(e.getMessage().contains("multiple of 8"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> request().guidanceScale(Double.NaN).build());
        assertTrue(e.getMessage().contains("--guidance-scale"), e.getMessage());
    }

    /** bf16 compute against the fp32 golden image: close, not equal (the figure goes in the speed note). */
    @Test
    void bf16StaysCloseToFp32() {
        StableDiffusionPipeline bf16 = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(),
                new PipelineOptions(ScalarType.BFloat16, Tensors.CPU, null));
        try (Golden g = Golden.open("pipe_txt2img_euler_a")) {
            GenerationResult r = bf16.generate(request().build());
            double d = Tensors.maxAbsDiff(PipelineGoldenTest.imagesAsTensor(r), g.tensor("image"));
            double mean = PipelineGoldenTest.imagesAsTensor(r).sub(g.tensor("image")).abs().mean().item_double();
            System.out.printf("bf16 vs fp32 golden image (pipe_txt2img_euler_a): max |diff| %.4f, mean |diff| %.4f%n", d, mean);
            assertTrue(mean < 0.05, "bf16 image drifts too far from fp32: mean |diff| " + mean);
        } finally {
            bf16.close();
        }
    }
}
