package jdiffusion.prompts;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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

/**
 * PromptEncoder on the golden tiny SD1 text encoder: diffusers' behaviour exactly (and against the
 * pipe_txt2img_long_prompt / pipe_txt2img_clip_skip references), A1111 chunking, BREAK, weights.
 */
class PromptEncoderTest {
    private static final String LONG_CASE = "pipe_txt2img_long_prompt";
    private static CLIPTokenizer tokenizer;
    private static CLIPTextModel model;
    private static PromptEncoder encoder;

    @BeforeAll
    static void load() {
        tokenizer = CLIPTokenizer.load(Golden.model("sd1-tiny-pipeline"));
        model = CLIPTextModel.load(Golden.model("sd1-tiny-pipeline").resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
        encoder = new PromptEncoder(tokenizer, model);
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    /** The text encoder on bos + these text tokens + eos, padded: [1, 77, C]. */
    private static Tensor encodeTokens(int[] textIds, int clipSkip) {
        int[] ids = new int[CLIPTokenizer.MAX_LENGTH];
        Arrays.fill(ids, tokenizer.padId());
        ids[0] = tokenizer.bosId();
        System.arraycopy(textIds, 0, ids, 1, textIds.length);
        ids[textIds.length + 1] = tokenizer.eosId();
        return model.encode(Tensors.fromLongs(Arrays.stream(ids).asLongStream().toArray(), 1, ids.length), clipSkip);
    }

    private static Tensor chunk(Tensor embeds, int i) {
        return embeds.narrow(1, (long) i * CLIPTokenizer.MAX_LENGTH, CLIPTokenizer.MAX_LENGTH);
    }

    private static String longPrompt() {
        try (Golden g = Golden.open(LONG_CASE)) {
            return g.json.get("call_kwargs").get("prompt").asText();
        }
    }

    @Test
    void diffusersModeIsExactlyTheTruncatedEncoding() {
        List<String> prompts = List.of("a photo of an astronaut riding a horse on mars", "", "(literal:1.3) [brackets] BREAK kept",
                longPrompt());
        try (PointerScope scope = new PointerScope()) {
            for (String prompt : prompts) {
                Tensor expected = model.encode(Tensors.fromLongs(
                        Arrays.stream(tokenizer.encodePadded(prompt)).asLongStream().toArray(), 1, 77));
                PromptEmbeds e = encoder.encode(prompt, PromptOptions.DIFFUSERS);
                assertTrue(torch.equal(expected, e.embeds()), prompt);
                assertEquals(LongPromptMode.TRUNCATE, e.mode());
                assertEquals(1, e.chunks());
                assertEquals(tokenizer.encodePrompt(prompt).truncationWarning(), e.truncationWarning());
                assertEquals(tokenizer.textIds(prompt).length, e.tokenCount());
            }
        }
    }

    @Test
    void longPromptPairMatchesDiffusers() {
        try (Golden g = Golden.open(LONG_CASE); PointerScope scope = new PointerScope()) {
            String negative = g.json.get("call_kwargs").get("negative_prompt").asText();
            PromptEmbedsPair pair = encoder.encodePair(longPrompt(), negative, PromptOptions.DIFFUSERS);
            Golden.assertClose("long prompt [negative; prompt]", pair.guidanceBatch(), g.tensor("prompt_embeds_used"), 1e-4, 1e-5);
            assertEquals(98, pair.prompt().tokenCount());
            String logged = g.json.get("logged_warnings").get(1).get("message").asText();
            assertEquals(logged, pair.prompt().truncationWarning());
            assertNull(pair.negative().truncationWarning());
        }
    }

    @Test
    void clipSkipPairMatchesDiffusers() {
        try (Golden g = Golden.open("pipe_txt2img_clip_skip"); PointerScope scope = new PointerScope()) {
            String prompt = g.json.get("call_kwargs").get("prompt").asText();
            String negative = g.json.get("call_kwargs").get("negative_prompt").asText();
            PromptEmbedsPair pair = encoder.encodePair(prompt, negative, PromptOptions.DIFFUSERS.withClipSkip(1));
            Golden.assertClose("clip skip 1 [negative; prompt]", pair.guidanceBatch(), g.tensor("prompt_embeds_used"), 1e-4, 1e-5);

            // A1111's "Clip skip: 2" is the same layer, applied to the negative prompt as well.
            PromptOptions a1111 = PromptOptions.DIFFUSERS.withA1111ClipSkip(2);
            assertEquals(1, a1111.clipSkip());
            PromptEmbedsPair both = encoder.encodePair(prompt, negative, a1111);
            assertTrue(torch.equal(pair.prompt().embeds(), both.prompt().embeds()));
            assertTrue(torch.equal(encoder.encode(negative, PromptOptions.DIFFUSERS, 1).embeds(), both.negative().embeds()));
        }
    }

    /**
     * A1111's first cut, stated on its own: a 76th token that is a comma starts the next chunk;
     * otherwise the chunk ends after the last comma among the first 75 tokens if that is at most
     * 20 tokens back, else after 75 tokens.
     */
    private static int firstChunkLength(int[] ids) {
        int comma = tokenizer.idOf(",</w>");
        if (ids.length <= 75) return ids.length;
        if (ids[75] == comma) return 75;
        int lastComma = -1;
        for (int i = 0; i < 75; i++) if (ids[i] == comma) lastComma = i;
        return lastComma != -1 && 75 - lastComma <= 20 ? lastComma + 1 : 75;
    }

    @Test
    void chunkModeCutsAtTheLastCommaWithin20Tokens() {
        // The golden prompt's 76th token is a comma, which gives a plain cut; with a word or three
        // in front the 76th token is a word, and the tokens after the last comma move on.
        for (String prompt : List.of(longPrompt(), "very " + longPrompt(), "very very very " + longPrompt())) {
            int[] ids = tokenizer.textIds(prompt);
            int cut = firstChunkLength(ids);
            try (PointerScope scope = new PointerScope()) {
                PromptEmbeds e = encoder.encode(prompt, PromptOptions.A1111.withEmphasis(Emphasis.NONE));
                assertEquals("[1, 154, 32]", Tensors.shapeString(e.embeds()));
                assertEquals(2, e.chunks());
                assertEquals(ids.length, e.tokenCount());
                assertFalse(e.truncated());
                assertTrue(torch.equal(encodeTokens(Arrays.copyOfRange(ids, 0, cut), 0), chunk(e.embeds(), 0)), prompt);
                assertTrue(torch.equal(encodeTokens(Arrays.copyOfRange(ids, cut, ids.length), 0), chunk(e.embeds(), 1)), prompt);

                // Backtracking off: a plain cut after 75 tokens.
                PromptEmbeds plain = encoder.encode(prompt, PromptOptions.A1111.withEmphasis(Emphasis.NONE).withCommaBacktrack(0));
                assertTrue(torch.equal(encodeTokens(Arrays.copyOfRange(ids, 0, 75), 0), chunk(plain.embeds(), 0)));
                assertTrue(torch.equal(encodeTokens(Arrays.copyOfRange(ids, 75, ids.length), 0), chunk(plain.embeds(), 1)));

                // Truncation with weights on: the first 75 tokens and diffusers' warning.
                PromptEmbeds truncated = encoder.encode(prompt, PromptOptions.A1111.withLongPrompts(LongPromptMode.TRUNCATE));
                assertEquals("[1, 77, 32]", Tensors.shapeString(truncated.embeds()));
                assertTrue(torch.equal(encodeTokens(Arrays.copyOfRange(ids, 0, 75), 0), truncated.embeds()));
                assertEquals(tokenizer.encodePrompt(prompt).truncationWarning(), truncated.truncationWarning());
            }
        }
        assertEquals(75, firstChunkLength(tokenizer.textIds(longPrompt())));
        assertTrue(firstChunkLength(tokenizer.textIds("very " + longPrompt())) < 75, "backtracking is exercised");
    }

    @Test
    void breakStartsANewChunk() {
        try (PointerScope scope = new PointerScope()) {
            PromptEmbeds e = encoder.encode("a red cat BREAK a blue dog", PromptOptions.A1111);
            assertEquals(2, e.chunks());
            assertTrue(torch.equal(encodeTokens(tokenizer.textIds("a red cat"), 0), chunk(e.embeds(), 0)));
            assertTrue(torch.equal(encodeTokens(tokenizer.textIds("a blue dog"), 0), chunk(e.embeds(), 1)));
            // A trailing BREAK leaves no empty chunk behind; a lone one gives one empty chunk.
            assertEquals(1, encoder.encode("a red cat BREAK", PromptOptions.A1111).chunks());
            PromptEmbeds lone = encoder.encode("BREAK", PromptOptions.A1111);
            assertEquals(1, lone.chunks());
            assertTrue(torch.equal(encodeTokens(new int[0], 0), lone.embeds()));
        }
    }

    @Test
    void weightsScaleTokensAndRestoreTheMean() {
        int[] ids = tokenizer.textIds("a cat photo");
        try (PointerScope scope = new PointerScope()) {
            Tensor z = encodeTokens(ids, 0);
            float[] m = new float[77];
            Arrays.fill(m, 1f);
            m[2] = 1.5f; // bos, a, cat
            Tensor mult = Tensors.fromFloats(m, 1, 77, 1);
            Tensor weighted = z.mul(mult);
            Tensor expected = weighted.mul(z.mean().div(weighted.mean()));

            PromptEmbeds original = encoder.encode("a (cat:1.5) photo", PromptOptions.A1111);
            Golden.assertClose("(cat:1.5) original emphasis", original.embeds(), expected, 0, 1e-7);
            assertEquals(z.mean().item_double(), original.embeds().mean().item_double(), 1e-7);

            PromptEmbeds noNorm = encoder.encode("a (cat:1.5) photo", PromptOptions.A1111.withEmphasis(Emphasis.NO_NORM));
            assertTrue(torch.equal(weighted, noNorm.embeds()));

            PromptEmbeds ignored = encoder.encode("a (cat:1.5) photo", PromptOptions.A1111.withEmphasis(Emphasis.IGNORE));
            assertTrue(torch.equal(z, ignored.embeds()));

            // Weights of exactly 1 leave the plain encoding untouched, bit for bit.
            assertTrue(torch.equal(z, encoder.encode("a cat photo", PromptOptions.A1111).embeds()));
        }
    }

    @Test
    void aShortNegativePromptIsPaddedWithEmptyPromptChunks() {
        try (PointerScope scope = new PointerScope()) {
            PromptEmbedsPair pair = encoder.encodePair(longPrompt(), "blurry", PromptOptions.A1111);
            assertEquals("[1, 154, 32]", Tensors.shapeString(pair.prompt().embeds()));
            assertEquals("[1, 154, 32]", Tensors.shapeString(pair.negative().embeds()));
            assertEquals(2, pair.negative().chunks());
            assertTrue(torch.equal(encodeTokens(tokenizer.textIds("blurry"), 0), chunk(pair.negative().embeds(), 0)));
            assertTrue(torch.equal(encodeTokens(new int[0], 0), chunk(pair.negative().embeds(), 1)));
            assertEquals("[2, 154, 32]", Tensors.shapeString(pair.guidanceBatch()));

            // And the other way round; a null negative prompt is the empty prompt.
            PromptEmbedsPair reversed = encoder.encodePair("", longPrompt(), PromptOptions.A1111);
            assertEquals("[1, 154, 32]", Tensors.shapeString(reversed.prompt().embeds()));
            PromptEmbedsPair nullNegative = encoder.encodePair("a cat", null, PromptOptions.A1111);
            assertTrue(torch.equal(encodeTokens(new int[0], 0), nullNegative.negative().embeds()));

            // Padding uses the layer the prompt was encoded with; batches pad each prompt to the longest.
            PromptEmbedsPair skipped = encoder.encodePair(longPrompt(), "blurry", PromptOptions.A1111.withA1111ClipSkip(2));
            assertEquals(1, skipped.negative().clipSkip());
            assertTrue(torch.equal(encodeTokens(new int[0], 1), chunk(skipped.negative().embeds(), 1)));
            PromptEmbeds three = encoder.padTo(pair.prompt(), 3);
            assertEquals("[1, 231, 32]", Tensors.shapeString(three.embeds()));
            assertEquals(3, three.chunks());
            assertTrue(torch.equal(encodeTokens(new int[0], 0), chunk(three.embeds(), 2)));
            assertThrows(JDiffusionException.class, () -> encoder.padTo(pair.prompt(), 1));
        }
    }

    @Test
    void sd2ChunksPadWithTheirPadIdAfterTheFirstEos() {
        CLIPTokenizer sd2 = CLIPTokenizer.load(Golden.model("sd2-tiny-pipeline"));
        PromptChunker chunker = new PromptChunker(sd2, java.util.Map.of());
        PromptChunker.Chunk chunk = chunker.chunk(PromptParser.parseAttention("a cat"), 20).getFirst();
        int[] expected = new int[77]; // pad id 0 after the eos
        expected[0] = 49406;
        expected[1] = 320;
        expected[2] = 2368;
        expected[3] = 49407;
        assertArrayEquals(expected, chunker.inputIds(chunk, true));
        assertArrayEquals(sd2.encodePadded("a cat"), chunker.inputIds(chunk, false));
        // A prompt holding an eos: A1111 pads SD2 from that first eos on; diffusers keeps the text.
        PromptChunker.Chunk withEos = chunker.chunk(List.of(new PromptFragment("a <|endoftext|> cat", 1.0)), 20).getFirst();
        int[] a1111 = chunker.inputIds(withEos, true);
        assertEquals(49407, a1111[2]);
        assertEquals(0, a1111[3]);
        assertArrayEquals(sd2.encodePadded("a <|endoftext|> cat"), chunker.inputIds(withEos, false));
    }

    @Test
    void everyChunkHoldsAtMost75Tokens() {
        // Phrases of 6 one-token words: a comma every 7 tokens, at 69 but not at 74 or 75, so the
        // first cut moves the 5 tokens after the comma at 69 to the next chunk.
        List<String> phrases = new ArrayList<>();
        for (int i = 0; i < 40; i++) phrases.add("a very big red cat sits");
        String prompt = String.join(", ", phrases);
        List<PromptChunker.Chunk> chunks = new PromptChunker(tokenizer, java.util.Map.of())
                .chunk(PromptParser.parseAttention(prompt), 20);
        int total = 0;
        for (PromptChunker.Chunk c : chunks) {
            assertTrue(c.tokens().length <= 75);
            total += c.tokens().length;
        }
        assertEquals(tokenizer.textIds(prompt).length, total);
        // The first chunk ends with a comma: 10 whole phrases of 7 tokens.
        int[] first = chunks.getFirst().tokens();
        assertEquals(70, first.length);
        assertEquals(tokenizer.idOf(",</w>"), first[first.length - 1]);
    }
}
