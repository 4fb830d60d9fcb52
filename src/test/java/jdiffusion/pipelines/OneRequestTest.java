package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;

/**
 * A one-request pipeline (the command line's, {@link StableDiffusionComponents#oneRequest}) releases
 * the text encoder once the prompts are encoded and the UNet before the final decode: the same image
 * as a pipeline that keeps them, and a clear error for anything after.
 */
class OneRequestTest {
    /** Hires fix with its own prompt and a pixel upscaler: two encodes, two loops, a decode and an encode between them. */
    private static GenerationRequest request() {
        return GenerationRequest.builder("a red circle in the centre on a blue background").steps(3).guidanceScale(7.5)
                .sampler("Euler a").seed(3).size(64, 64)
                .hires(new HiresFix(1.5, HiresUpscaler.LANCZOS, 2, 0.6, null, "a green square on a white background", null))
                .build();
    }

    @Test
    void releasesEachModelWhenTheRequestIsPastItAndGivesTheSameImage() {
        try (StableDiffusionPipeline kept = StableDiffusionPipeline.load("models/tiny-shapes", PipelineOptions.defaults());
             StableDiffusionPipeline once = StableDiffusionPipeline.load("models/tiny-shapes", PipelineOptions.defaults())) {
            once.components().oneRequest();
            try (PointerScope scope = new PointerScope()) {
                GenerationResult expected = kept.generate(request());
                GenerationResult got = once.generate(request());
                assertEquals(0.0, Tensors.maxAbsDiff(expected.finalLatents(), got.finalLatents()), "final latents");
                assertEquals(expected.parameters(), got.parameters());
                int[] a = expected.images().getFirst().getRGB(0, 0, 96, 96, null, 0, 96);
                int[] b = got.images().getFirst().getRGB(0, 0, 96, 96, null, 0, 96);
                assertTrue(java.util.Arrays.equals(a, b), "the same pixels");
            }
            for (Runnable use : new Runnable[] {() -> once.components().unet(), () -> once.components().textEncoder(),
                    () -> once.components().promptEncoder(), () -> once.components().loras(),
                    () -> once.withLoRAs(java.util.List.of(), null, () -> null), () -> once.generate(request())}) {
                JDiffusionException e = assertThrows(JDiffusionException.class, use::run);
                assertTrue(e.getMessage().contains("was released once its request was past it"), e.getMessage());
            }
            // the pipeline that keeps its models runs on
            try (PointerScope scope = new PointerScope()) {
                assertEquals(96, kept.generate(request()).images().getFirst().getWidth());
            }
        }
    }
}
