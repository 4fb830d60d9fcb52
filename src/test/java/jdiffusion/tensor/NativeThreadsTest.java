package jdiffusion.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The process-wide thread settings are made by one explicit call, once. */
class NativeThreadsTest {

    @Test
    void configuringTwiceKeepsAnExplicitChoiceMadeInBetween() {
        int original = NativeThreads.computeThreads();
        try {
            NativeThreads.configureForInference();
            int explicit = NativeThreads.computeThreads() == 1 ? 2 : 1;
            NativeThreads.setComputeThreads(explicit);
            NativeThreads.configureForInference();   // e.g. a second StableDiffusionPipeline.load
            assertEquals(explicit, NativeThreads.computeThreads());
        } finally {
            NativeThreads.setComputeThreads(original);
        }
    }
}
