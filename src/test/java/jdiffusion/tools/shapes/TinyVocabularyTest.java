package jdiffusion.tools.shapes;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TinyVocabularyTest {
    @TempDir
    static Path dir;
    private static TinyVocabulary vocab;
    private static ReferenceClipBpe bpe;

    @BeforeAll
    static void writeAndReadBack() throws Exception {
        vocab = TinyVocabulary.build();
        vocab.write(dir);
        bpe = new ReferenceClipBpe(dir);
        // A copy to cross-check with the real CLIPTokenizer (or Python's) by hand.
        vocab.write(Path.of("target", "tiny-vocabulary"));
        System.out.println("tiny vocabulary: " + vocab.size() + " entries, " + vocab.merges().size() + " merges, "
                + TinyVocabulary.words().size() + " words");
    }

    @Test
    void theFilesHaveClipsLayout() throws Exception {
        assertEquals("#version: 0.2", bpe.mergeLines.getFirst());
        List<String> merges = vocab.merges();
        assertEquals(merges, bpe.mergeLines.subList(1, bpe.mergeLines.size()));
        int n = vocab.size();
        assertEquals(512 + merges.size() + 2, n);
        assertTrue(n < 1000, "a few hundred entries, not " + n);
        assertEquals(n, bpe.encoder.size());
        assertEquals(n, new HashSet<>(bpe.encoder.values()).size());
        assertEquals(Integer.valueOf(n - 2), bpe.encoder.get("<|startoftext|>"));
        assertEquals(Integer.valueOf(n - 1), bpe.encoder.get("<|endoftext|>"));
        assertEquals(n - 2, vocab.bosId());
        assertEquals(n - 1, vocab.eosId());
        // Ids follow the file order; entry 512 + i is merge i joined.
        Iterator<Map.Entry<String, Integer>> it = bpe.encoder.entrySet().iterator();
        for (int id = 0; id < n; id++) assertEquals(id, it.next().getValue());
        List<String> tokens = List.copyOf(bpe.encoder.keySet());
        assertEquals("!", tokens.get(0));
        assertEquals("a", tokens.get(64));
        assertEquals("!</w>", tokens.get(256));
        assertEquals("Ń</w>", tokens.get(511));
        for (int i = 0; i < merges.size(); i++) assertEquals(merges.get(i).replace(" ", ""), tokens.get(512 + i));

        ObjectMapper json = new ObjectMapper();
        JsonNode config = json.readTree(dir.resolve("tokenizer_config.json").toFile());
        assertEquals("CLIPTokenizer", config.get("tokenizer_class").asText());
        assertEquals(77, config.get("model_max_length").asInt());
        assertEquals("<|startoftext|>", config.get("bos_token").get("content").asText());
        JsonNode special = json.readTree(dir.resolve("special_tokens_map.json").toFile());
        assertEquals("<|endoftext|>", special.get("eos_token").get("content").asText());
        assertEquals("<|endoftext|>", special.get("pad_token").asText());
    }

    @Test
    void everyCaptionWordIsExactlyOneToken() {
        for (String word : TinyVocabulary.words()) {
            List<String> t = bpe.tokens(word);
            assertEquals(List.of(word + "</w>"), t, word);
            assertEquals(vocab.encoder().get(word + "</w>"), Integer.valueOf(bpe.ids(word)[0]));
        }
        // A whole caption: one token per word and per comma.
        String c = "On a blue background, a small red circle at the upper left";
        assertEquals(List.of("on</w>", "a</w>", "blue</w>", "background</w>", ",</w>", "a</w>", "small</w>", "red</w>",
                "circle</w>", "at</w>", "the</w>", "upper</w>", "left</w>"), bpe.tokens(c));
    }

    @Test
    void everyTrainingCaptionTokenizesWordByWord() {
        ShapesDataset data = new ShapesDataset(0);
        Iterator<Sample> samples = data.samples(1);
        for (int i = 0; i < 2000; i++) {
            String c = samples.next().caption();
            int words = c.replace(",", " , ").trim().split("\\s+").length;
            assertEquals(words, bpe.ids(c).length, c);
        }
    }

    @Test
    void unknownWordsStillTokenizeIntoByteLevelPieces() {
        for (String word : List.of("zebra", "reddish", "circles", "qwxz", "naïve", "東京")) {
            List<String> t = bpe.tokens(word);
            bpe.ids(word); // every piece is in the vocabulary
            String joined = String.join("", t);
            assertTrue(t.size() > 1 && joined.endsWith("</w>"), word + " -> " + t);
            // One symbol per UTF-8 byte, nothing lost.
            assertEquals(word.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, joined.length() - 4, word + " -> " + t);
        }
        // No merge involves the non-ASCII byte symbols: one token per byte.
        assertEquals(6, bpe.tokens("東京").size());
        // Two digits are two CLIP words.
        assertEquals(List.of("4</w>", "2</w>"), bpe.tokens("42"));
        System.out.println("reddish -> " + bpe.tokens("reddish") + ", circles -> " + bpe.tokens("circles"));
    }

    @Test
    void buildingIsDeterministic() throws Exception {
        Path again = Files.createDirectories(dir.resolve("again"));
        TinyVocabulary.build().write(again);
        for (String f : List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")) {
            assertArrayEquals(Files.readAllBytes(dir.resolve(f)), Files.readAllBytes(again.resolve(f)), f);
        }
    }

    @Test
    void theByteEntriesMatchClipsOwnVocabulary() throws Exception {
        Path sd1 = Golden.shared().resolve("clip-tokenizer/sd1/vocab.json");
        Map<String, Integer> clip = new ObjectMapper().readValue(sd1.toFile(),
                new TypeReference<LinkedHashMap<String, Integer>>() {});
        for (int id = 0; id < 512; id++) {
            String token = vocab.tokens().get(id);
            assertEquals(Integer.valueOf(id), clip.get(token), token);
        }
    }
}
