package jdiffusion.prompts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTextOutput;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Textual inversion tokens in the PromptEncoder, on the golden tiny SD1 text encoder (hidden size 32). */
class TextualInversionEncodingTest {
    private static CLIPTokenizer tokenizer;
    private static CLIPTextModel model;
    private static PromptEncoder base;

    @BeforeAll
    static void load() {
        tokenizer = CLIPTokenizer.load(Golden.model("sd1-tiny-pipeline"));
        model = CLIPTextModel.load(Golden.model("sd1-tiny-pipeline").resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
        base = new PromptEncoder(tokenizer, model);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    /** The model's own embedding of a one-token word, as a Java array. */
    private static float[] wordVector(String word) {
        try (PointerScope scope = new PointerScope()) {
            return Tensors.toFloats(new EmbeddingSurgery(base).tokenEmbedding(word));
        }
    }

    private static float[] synthetic(float seed) {
        float[] v = new float[32];
        for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(seed + 0.7 * i);
        return v;
    }

    @Test
    void aTokenGivesExactlyItsVectorFromAFile(@TempDir Path dir) {
        float[] vector = synthetic(1.5f);
        Path file = dir.resolve("learned_embeds.safetensors");
        try (PointerScope scope = new PointerScope()) {
            SafetensorsWriter.write(file, Map.of("<my-token>", Tensors.fromFloats(vector, 32)));
        }
        PromptEncoder encoder = base.withTextualInversions(List.of(TextualInversion.load(file)));
        EmbeddingSurgery surgery = new EmbeddingSurgery(encoder);
        String prompt = "a photo of <my-token> on a table";
        int[] ids = surgery.inputIds(prompt);
        int position = 4; // bos, a, photo, of, <my-token>
        assertEquals(49408, ids[position]);
        try (PointerScope scope = new PointerScope()) {
            Tensor embeds = surgery.tokenEmbeddings(prompt); // [1, 77, 32]
            assertArrayEquals(vector, Tensors.toFloats(embeds.select(1, position)));
            // hidden_states_0 = the given vector + position embedding 4, exactly.
            Tensor input = Tensors.fromLongs(Arrays.stream(ids).asLongStream().toArray(), 1, 77);
            CLIPTextOutput out = model.forwardEmbeddings(embeds, input);
            Tensor expected = Tensors.fromFloats(vector, 32).add(model.positionEmbeddings().select(0, position));
            assertTrue(torch.equal(expected, out.hiddenStates().getFirst().select(1, position).view(-1)));
            // The encoder's output is the text model run on those embeddings.
            assertTrue(torch.equal(out.lastHiddenState(), encoder.encode(prompt, PromptOptions.DIFFUSERS).embeds()));
        }
        // The encoder it came from does not know the token: it is BPE text there.
        assertFalse(Arrays.stream(new EmbeddingSurgery(base).inputIds(prompt)).anyMatch(id -> id >= 49408));
    }

    @Test
    void aTokenWithAWordsVectorEncodesAsThatWord() {
        PromptEncoder encoder = base.withTextualInversions(List.of(TextualInversion.of("<my-cat>", wordVector("cat"))));
        try (PointerScope scope = new PointerScope()) {
            for (PromptOptions options : List.of(PromptOptions.DIFFUSERS, PromptOptions.A1111, PromptOptions.A1111.withClipSkip(1))) {
                assertTrue(torch.equal(encoder.encode("a photo of cat", options).embeds(),
                        encoder.encode("a photo of <my-cat>", options).embeds()), options.toString());
                assertTrue(torch.equal(encoder.encode("a (photo:1.3) of [cat]", options).embeds(),
                        encoder.encode("a (photo:1.3) of [<my-cat>]", options).embeds()), options.toString());
            }
        }
    }

    @Test
    void aMultiVectorTokenInsertsAllItsVectors() {
        TextualInversion two = TextualInversion.of("<two>", wordVector("cat"), wordVector("dog"));
        PromptEncoder encoder = base.withTextualInversions(List.of(two));
        try (PointerScope scope = new PointerScope()) {
            PromptEmbeds e = encoder.encode("a <two> playing", PromptOptions.A1111);
            assertTrue(torch.equal(encoder.encode("a cat dog playing", PromptOptions.A1111).embeds(), e.embeds()));
            assertEquals(4, e.tokenCount());
            assertTrue(torch.equal(encoder.encode("a cat dog playing", PromptOptions.DIFFUSERS).embeds(),
                    encoder.encode("a <two> playing", PromptOptions.DIFFUSERS).embeds()));
            // Written alone, the second vector's own token is just that vector.
            assertTrue(torch.equal(encoder.encode("a dog", PromptOptions.A1111).embeds(),
                    encoder.encode("a <two>_1", PromptOptions.A1111).embeds()));

            // 74 words leave one free place in the first chunk: the two vectors go to the next one together.
            String words = String.join(" ", java.util.Collections.nCopies(74, "cat"));
            PromptEmbeds moved = encoder.encode(words + " <two>", PromptOptions.A1111);
            assertEquals(2, moved.chunks());
            Tensor expected = encoder.encode(words + " BREAK cat dog", PromptOptions.A1111).embeds();
            assertTrue(torch.equal(expected, moved.embeds()));
        }
    }

    @Test
    void aDimensionMismatchNamesBothSizes() {
        TextualInversion sd2Sized = TextualInversion.of("<big>", new float[1024]);
        JDiffusionException e = assertThrows(JDiffusionException.class, () -> base.withTextualInversions(List.of(sd2Sized)));
        assertTrue(e.getMessage().contains("1024") && e.getMessage().contains("32"), e.getMessage());
        assertTrue(e.getMessage().contains("SD 2.x"), e.getMessage());
    }

    @Test
    void tokensMustBeNew() {
        PromptEncoder one = base.withTextualInversions(List.of(TextualInversion.of("<a>", synthetic(0))));
        assertThrows(JDiffusionException.class, () -> one.withTextualInversions(List.of(TextualInversion.of("<a>", synthetic(1)))));
        assertThrows(JDiffusionException.class, () -> base.withTextualInversions(List.of(TextualInversion.of("cat</w>", synthetic(1)))));
        // Adding more later keeps the earlier ones working.
        PromptEncoder both = one.withTextualInversions(List.of(TextualInversion.of("<b>", wordVector("dog"))));
        assertEquals(List.of("<a>", "<b>"), both.textualInversions().stream().map(TextualInversion::token).toList());
        try (PointerScope scope = new PointerScope()) {
            assertTrue(torch.equal(both.encode("a dog", PromptOptions.DIFFUSERS).embeds(),
                    both.encode("a <b>", PromptOptions.DIFFUSERS).embeds()));
            assertTrue(torch.equal(one.encode("a <a>", PromptOptions.DIFFUSERS).embeds(),
                    both.encode("a <a>", PromptOptions.DIFFUSERS).embeds()));
        }
    }
}
