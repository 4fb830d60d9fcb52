package jdiffusion.models.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.StreamSupport;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The golden {@code tokenizer} case (transformers 4.47 slow CLIPTokenizer with ftfy 6.3.1) and the long-prompt pipeline case. */
class CLIPTokenizerTest {
    private static CLIPTokenizer sd1() {
        return CLIPTokenizer.load(Golden.shared().resolve("clip-tokenizer/sd1"));
    }

    private static CLIPTokenizer sd2() {
        return CLIPTokenizer.load(Golden.shared().resolve("clip-tokenizer/sd2"));
    }

    private static int[] ints(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    private static List<String> strings(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).map(JsonNode::asText).toList();
    }

    @Test
    void aPhotoOfACat() {
        assertArrayEquals(new int[] {49406, 320, 1125, 539, 320, 2368, 49407}, sd1().encode("a photo of a cat"));
        assertArrayEquals(new int[] {49406, 320, 1125, 539, 320, 2368, 49407}, sd2().encode("a photo of a cat"));
    }

    @Test
    void everyGoldenPromptGivesTheReferenceIds() {
        CLIPTokenizer sd1 = sd1();
        CLIPTokenizer sd2 = sd2();
        JsonNode prompts = Golden.open("tokenizer").json.get("prompts");
        List<String> failures = new ArrayList<>();
        int exactSd1 = 0;
        int exactSd2 = 0;
        for (JsonNode p : prompts) {
            String text = p.get("text").asText();
            String shown = EncodedPrompt.pythonRepr(text);
            boolean ok1 = Arrays.equals(ints(p.get("sd1")), sd1.encodePadded(text))
                    && Arrays.equals(ints(p.get("unpadded_sd1")), sd1.encode(text))
                    && strings(p.get("bpe_tokens_sd1")).equals(sd1.tokens(text))
                    && p.get("unpadded_length_sd1").asInt() == sd1.untruncatedLength(text);
            boolean ok2 = Arrays.equals(ints(p.get("sd2")), sd2.encodePadded(text));
            if (ok1) exactSd1++;
            else failures.add("sd1 " + shown + ": got " + Arrays.toString(sd1.encode(text)) + " " + sd1.tokens(text));
            if (ok2) exactSd2++;
            else failures.add("sd2 " + shown + ": got " + Arrays.toString(sd2.encodePadded(text)));
        }
        System.out.printf("tokenizer golden: sd1 %d/%d exact, sd2 %d/%d exact%n",
                exactSd1, prompts.size(), exactSd2, prompts.size());
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    @Test
    void pipelineFoldersUseTheirTokenizerSubfolder() {
        CLIPTokenizer sd1 = CLIPTokenizer.load(Golden.model("sd1-tiny-pipeline"));
        CLIPTokenizer sd2 = CLIPTokenizer.load(Golden.model("sd2-tiny-pipeline"));
        assertEquals(49407, sd1.padId());
        assertEquals(0, sd2.padId());
        for (CLIPTokenizer t : List.of(sd1, sd2)) {
            assertEquals(49406, t.bosId());
            assertEquals(49407, t.eosId());
            assertEquals(49408, t.vocabSize());
            assertEquals(77, t.modelMaxLength());
        }
        for (JsonNode p : Golden.open("tokenizer").json.get("prompts")) {
            String text = p.get("text").asText();
            assertArrayEquals(ints(p.get("sd1")), sd1.encodePadded(text), text);
            assertArrayEquals(ints(p.get("sd2")), sd2.encodePadded(text), text);
        }
    }

    /** Pitfall 12: SD2 registers '!' as its pad token, so every literal '!' becomes id 0. */
    @Test
    void sd2TurnsALiteralExclamationMarkIntoThePadId() {
        assertArrayEquals(new int[] {49406, 320, 736, 0, 0, 0, 3055, 0, 49407}, sd2().encode("a red!!! apple!"));
        assertArrayEquals(new int[] {49406, 320, 736, 995, 3055, 256, 49407}, sd1().encode("a red!!! apple!"));
    }

    /** Pitfall 20 and pipe_txt2img_long_prompt: bos + 75 tokens + eos, and diffusers' warning. */
    @Test
    void longPromptsAreTruncatedWithDiffusersWarning() {
        JsonNode c = Golden.open("pipe_txt2img_long_prompt").json;
        CLIPTokenizer tokenizer = CLIPTokenizer.load(Golden.model("sd1-tiny-pipeline"));
        EncodedPrompt prompt = tokenizer.encodePrompt(c.get("call_kwargs").get("prompt").asText());
        assertArrayEquals(ints(c.get("prompt_input_ids")), prompt.ids());
        assertArrayEquals(ints(c.get("prompt_untruncated_ids")), prompt.untruncatedIds());
        assertTrue(prompt.truncated());
        assertEquals(98, prompt.tokenCount());
        assertEquals(75, prompt.keptTokenCount());
        assertEquals(c.get("removed_text").get(0).asText(), prompt.removedText());
        String expected = StreamSupport.stream(c.get("logged_warnings").spliterator(), false)
                .filter(w -> w.get("logger").asText().startsWith("diffusers"))
                .findFirst().orElseThrow().get("message").asText();
        assertEquals(expected, prompt.truncationWarning());

        EncodedPrompt shortPrompt = tokenizer.encodePrompt("a photo of a cat");
        assertFalse(shortPrompt.truncated());
        assertEquals("", shortPrompt.removedText());
        assertEquals(null, shortPrompt.truncationWarning());
    }

    @Test
    void exactly75TokensAreNotTruncated() {
        CLIPTokenizer tokenizer = sd1();
        EncodedPrompt prompt = tokenizer.encodePrompt("cat ".repeat(75));
        assertEquals(77, prompt.untruncatedIds().length);
        assertFalse(prompt.truncated());
        assertTrue(tokenizer.encodePrompt("cat ".repeat(76)).truncated());
    }

    @Test
    void chunks75CutTheTokensIntoRunsOf75() {
        CLIPTokenizer tokenizer = sd2();
        String text = "cat ".repeat(80);
        List<int[]> chunks = tokenizer.chunks75(text);
        assertEquals(2, chunks.size());
        int[] first = chunks.get(0);
        assertEquals(77, first.length);
        assertEquals(49406, first[0]);
        assertEquals(2368, first[75]);
        assertEquals(49407, first[76]);
        int[] second = chunks.get(1);
        assertEquals(49406, second[0]);
        assertEquals(2368, second[5]);
        assertEquals(49407, second[6]);
        assertEquals(0, second[7]); // SD2 pads with '!' = 0
        assertEquals(0, second[76]);

        assertEquals(1, tokenizer.chunks75("").size());
        assertArrayEquals(tokenizer.encodePadded(""), tokenizer.chunks75("").get(0));
        assertEquals(1, tokenizer.chunks75("cat ".repeat(75)).size());
    }

    /** Python details the reference depends on; expected ids from transformers' CLIPTokenizer path on Python 3.11. */
    @Test
    void pythonLowerCaseAndRegexQuirks() {
        // str.lower() makes a final sigma before '"' (Java's toLowerCase would not).
        assertArrayEquals(new int[] {49406, 138, 123, 138, 112, 138, 123, 139, 480, 257, 320, 49407},
                sd1().encode("\u039f\u0394\u039f\u03a3\"a"));
        // Under IGNORECASE the regex module matches U+0345 with no branch: it disappears.
        assertArrayEquals(new int[] {49406, 320, 321, 49407}, sd1().encode("a\u0345b \u0345"));
    }

    @Test
    void decodeReversesTheByteLevelMapping() {
        CLIPTokenizer tokenizer = sd1();
        int[] ids = tokenizer.encode("café crème, 日本語");
        assertEquals("<|startoftext|>café crème , 日本語 <|endoftext|>", tokenizer.decode(ids));
    }

    @Test
    void aMissingFolderOrFileSaysWhatToPass(@TempDir Path tmp) throws Exception {
        var missing = assertThrows(JDiffusionException.class, () -> CLIPTokenizer.load(tmp.resolve("nope")));
        assertTrue(missing.getMessage().contains("does not exist") && missing.getMessage().contains("--model"),
                missing.getMessage());

        Files.writeString(tmp.resolve("vocab.json"), "{}");
        var noMerges = assertThrows(JDiffusionException.class, () -> CLIPTokenizer.load(tmp));
        assertTrue(noMerges.getMessage().startsWith("merges.txt is missing in " + tmp), noMerges.getMessage());
        assertTrue(noMerges.getMessage().contains("--model takes a pipeline folder"), noMerges.getMessage());
    }

    @Test
    void addedTokensAreMatchedWholeBeforeBpeInANewTokenizer() {
        CLIPTokenizer base = sd1();
        CLIPTokenizer t = base.withAddedTokens(List.of("<cat-toy>", "<cat-toy>_1"));
        assertEquals(49408, base.size());
        assertEquals(49410, t.size());
        assertEquals(49408, t.idOf("<cat-toy>"));
        assertEquals(49409, t.idOf("<cat-toy>_1"));
        assertEquals(List.of("a</w>", "<cat-toy>", "backpack</w>"), t.tokens("a <cat-toy> backpack"));
        // Longest match first, anywhere in the text, case-sensitive (transformers' added tokens).
        assertArrayEquals(new int[] {320, 49409, 49408}, t.textIds("a <cat-toy>_1<cat-toy>"));
        assertFalse(t.tokens("a <CAT-TOY>").contains("<cat-toy>"));
        // The tokenizer it came from is unchanged.
        assertFalse(base.tokens("a <cat-toy> backpack").contains("<cat-toy>"));
        assertEquals(base.encodePadded("a photo of a cat").length, t.encodePadded("a photo of a cat").length);
        assertArrayEquals(base.encodePadded("a photo of a cat"), t.encodePadded("a photo of a cat"));
        assertTrue(t.decode(t.textIds("a <cat-toy> backpack")).contains("<cat-toy>"));
        // Chained additions continue the numbering.
        assertEquals(49410, t.withAddedTokens(List.of("<other>")).idOf("<other>"));
    }

    @Test
    void addingAKnownOrRepeatedTokenIsRefused() {
        CLIPTokenizer base = sd1();
        JDiffusionException inVocab = assertThrows(JDiffusionException.class, () -> base.withAddedTokens(List.of("cat</w>")));
        assertTrue(inVocab.getMessage().contains("cat</w>"), inVocab.getMessage());
        assertThrows(JDiffusionException.class, () -> base.withAddedTokens(List.of("<|endoftext|>")));
        assertThrows(JDiffusionException.class, () -> base.withAddedTokens(List.of("<x>", "<x>")));
        assertThrows(JDiffusionException.class, () -> base.withAddedTokens(List.of("<x>")).withAddedTokens(List.of("<x>")));
        assertThrows(JDiffusionException.class, () -> base.withAddedTokens(List.of("")));
        assertThrows(JDiffusionException.class, () -> base.idOf("<never-added>"));
        assertEquals(267, base.idOf(",</w>"));
    }
}
