package jdiffusion.prompts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Deep Dive lesson's embedding experiments on the golden tiny SD1 text encoder. */
class EmbeddingSurgeryTest {
    private static CLIPTokenizer tokenizer;
    private static CLIPTextModel model;
    private static EmbeddingSurgery surgery;

    @BeforeAll
    static void load() {
        tokenizer = CLIPTokenizer.load(Golden.model("sd1-tiny-pipeline"));
        model = CLIPTextModel.load(Golden.model("sd1-tiny-pipeline").resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
        surgery = new EmbeddingSurgery(new PromptEncoder(tokenizer, model));
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    private static Tensor encodeText(String prompt) {
        return model.encode(Tensors.fromLongs(Arrays.stream(tokenizer.encodePadded(prompt)).asLongStream().toArray(), 1, 77));
    }

    @Test
    void replacingATokensEmbeddingEqualsWritingTheOtherWord() {
        String prompt = "a photo of a puppy in the snow";
        try (PointerScope scope = new PointerScope()) {
            Tensor embeds = surgery.tokenEmbeddings(prompt);
            int position = surgery.position(prompt, "puppy");
            assertEquals(5, position);
            Tensor swapped = EmbeddingSurgery.replace(embeds, position, surgery.tokenEmbedding("skunk"));
            assertTrue(torch.equal(encodeText("a photo of a skunk in the snow"), surgery.encode(swapped)));
            // Unchanged embeddings give the prompt itself; the input was not modified in place.
            assertTrue(torch.equal(encodeText(prompt), surgery.encode(embeds)));
            assertTrue(torch.equal(model.encode(Tensors.fromLongs(
                    Arrays.stream(tokenizer.encodePadded("a photo of a skunk in the snow")).asLongStream().toArray(), 1, 77), 1),
                    surgery.encode(swapped, 1)));
        }
    }

    @Test
    void mixingBlendsTokenAndPromptEmbeddings() {
        try (PointerScope scope = new PointerScope()) {
            Tensor cat = surgery.tokenEmbedding("cat");
            Tensor dog = surgery.tokenEmbedding("dog");
            assertEquals("[32]", Tensors.shapeString(cat));
            assertTrue(torch.equal(cat, EmbeddingSurgery.mix(cat, dog, 0)));
            assertTrue(torch.equal(dog, EmbeddingSurgery.mix(cat, dog, 1)));
            Golden.assertClose("midpoint", EmbeddingSurgery.mix(cat, dog, 0.5), cat.add(dog).div(new org.bytedeco.pytorch.Scalar(2)), 0, 1e-7);

            // A "cat-dog" word in a prompt, and a blend of two encoded prompts.
            String prompt = "a photo of a cat";
            Tensor blendWord = EmbeddingSurgery.replace(surgery.tokenEmbeddings(prompt), surgery.position(prompt, "cat"),
                    EmbeddingSurgery.mix(cat, dog, 0.5));
            Tensor out = surgery.encode(blendWord);
            assertFalse(torch.equal(out, encodeText(prompt)));
            Tensor prompts = EmbeddingSurgery.mix(encodeText("a photo of a cat"), encodeText("a painting of a dog"), 0.25);
            assertEquals("[1, 77, 32]", Tensors.shapeString(prompts));
            assertThrows(JDiffusionException.class, () -> EmbeddingSurgery.mix(cat, surgery.tokenEmbeddings(prompt), 0.5));
        }
    }

    @Test
    void positionEmbeddingsAndErrors() {
        try (PointerScope scope = new PointerScope()) {
            assertEquals("[77, 32]", Tensors.shapeString(surgery.positionEmbeddings()));
            JDiffusionException several = assertThrows(JDiffusionException.class, () -> surgery.tokenEmbedding("astronautical"));
            assertTrue(several.getMessage().contains("tokens"), several.getMessage());
            assertThrows(JDiffusionException.class, () -> surgery.position("a photo of a cat", "dog"));
            assertThrows(JDiffusionException.class,
                    () -> EmbeddingSurgery.replace(surgery.tokenEmbeddings("a cat"), 77, surgery.tokenEmbedding("dog")));
        }
    }
}
