package jdiffusion.tools.shapes;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;

/**
 * The tiny model's own vocabulary, written in CLIP's tokenizer format (vocab.json, merges.txt,
 * tokenizer_config.json, special_tokens_map.json) so that the unchanged CLIPTokenizer reads it.
 * Laid out as openai/CLIP's SimpleTokenizer builds its vocabulary: the 256 byte symbols of the
 * byte-to-unicode map, the same 256 with {@code </w>}, one token per merge in merge order, then
 * {@code <|startoftext|>} and {@code <|endoftext|>}. The merges are learned by byte-pair encoding
 * over the caption grammar's words until every word is one token, so CLIP's BPE (lowest-rank pair
 * first) turns each of them into exactly one token, and any other word still tokenizes into
 * byte-level pieces.
 */
public final class TinyVocabulary {
    public static final String BOS = "<|startoftext|>";
    public static final String EOS = "<|endoftext|>";
    /**
     * Words beyond the caption grammar: DreamBooth's rare identifier ("a sks shape"; its class
     * noun "shape" is a training word, {@link Captions#HYPERNYM}).
     */
    public static final List<String> EXTRA_WORDS = List.of("sks");
    private static final String END = "</w>";

    private final List<String> tokens;
    private final List<String[]> merges;

    private TinyVocabulary(List<String> tokens, List<String[]> merges) {
        this.tokens = List.copyOf(tokens);
        this.merges = List.copyOf(merges);
    }

    /** The vocabulary for the caption grammar and {@link #EXTRA_WORDS}. */
    public static TinyVocabulary build() {
        return build(words());
    }

    /** Every word that must be a single token: the caption grammar's words plus {@link #EXTRA_WORDS}. */
    public static SortedSet<String> words() {
        SortedSet<String> out = new TreeSet<>(Captions.words());
        out.addAll(EXTRA_WORDS);
        return out;
    }

    /**
     * Learns merges until each of {@code words} (lower case, one CLIP word each) is one token: the
     * most frequent adjacent pair first, ties broken by the pair's text so the result never depends
     * on iteration order. A pair whose joined text is already a token is never merged, so every
     * merge makes a new token: ids stay unique, and no earlier merge can become applicable again
     * after a later one, which is what makes CLIP's lowest-rank-first BPE reproduce this training.
     */
    static TinyVocabulary build(Collection<String> words) {
        int[][] byteSymbols = byteSymbols();
        char[] encoder = new char[256];
        List<String> tokens = new ArrayList<>();
        for (int[] bc : byteSymbols) {
            encoder[bc[0]] = (char) bc[1];
            tokens.add(String.valueOf((char) bc[1]));
        }
        for (int[] bc : byteSymbols) tokens.add((char) bc[1] + END);
        Set<String> known = new HashSet<>(tokens);

        List<List<String>> pieces = new ArrayList<>();
        for (String word : new TreeSet<>(words)) pieces.add(symbols(word, encoder));

        List<String[]> merges = new ArrayList<>();
        while (true) {
            // 1. Count adjacent pairs over the words that are not yet one token.
            Map<String, Integer> counts = new HashMap<>();
            Map<String, String[]> pairs = new HashMap<>();
            boolean done = true;
            for (List<String> p : pieces) {
                if (p.size() > 1) done = false;
                for (int i = 0; i + 1 < p.size(); i++) {
                    String[] pair = {p.get(i), p.get(i + 1)};
                    if (known.contains(pair[0] + pair[1])) continue;
                    String key = pair[0] + " " + pair[1];
                    counts.merge(key, 1, Integer::sum);
                    pairs.putIfAbsent(key, pair);
                }
            }
            if (done) break;
            if (counts.isEmpty()) {
                throw new IllegalStateException("cannot merge the remaining words into single tokens: " + pieces);
            }
            // 2. The most frequent pair; ties go to the alphabetically first.
            String best = null;
            for (var e : counts.entrySet()) {
                if (best == null || e.getValue() > counts.get(best)
                        || (e.getValue().equals(counts.get(best)) && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                }
            }
            String[] pair = pairs.get(best);
            merges.add(pair);
            tokens.add(pair[0] + pair[1]);
            known.add(pair[0] + pair[1]);
            // 3. Apply it everywhere, left to right without overlaps, as CLIP's bpe() does.
            for (int w = 0; w < pieces.size(); w++) pieces.set(w, merge(pieces.get(w), pair[0], pair[1]));
        }
        tokens.add(BOS);
        tokens.add(EOS);
        return new TinyVocabulary(tokens, merges);
    }

    /** The token strings by id. */
    public List<String> tokens() {
        return tokens;
    }

    /** The merges in rank order, each as CLIP writes it in merges.txt: {@code "first second"}. */
    public List<String> merges() {
        return merges.stream().map(m -> m[0] + " " + m[1]).toList();
    }

    /** Entries of vocab.json: the {@code vocab_size} of the tiny text encoder. */
    public int size() {
        return tokens.size();
    }

    public int bosId() {
        return tokens.size() - 2;
    }

    /** Also the highest id, so the pooled output finds it by argmax as well as by id. */
    public int eosId() {
        return tokens.size() - 1;
    }

    /** Token to id, in id order. */
    public Map<String, Integer> encoder() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (int i = 0; i < tokens.size(); i++) out.put(tokens.get(i), i);
        return out;
    }

    /** Writes the four tokenizer files into {@code folder} (created if needed), as transformers saves them. */
    public void write(Path folder) {
        ObjectMapper json = new ObjectMapper();
        try {
            Files.createDirectories(folder);
            byte[] vocab = json.writeValueAsBytes(encoder());
            AtomicFiles.write(folder.resolve("vocab.json"), tmp -> Files.write(tmp, vocab));
            StringBuilder m = new StringBuilder("#version: 0.2\n");
            for (String merge : merges()) m.append(merge).append('\n');
            byte[] mergesText = m.toString().getBytes(StandardCharsets.UTF_8);
            AtomicFiles.write(folder.resolve("merges.txt"), tmp -> Files.write(tmp, mergesText));

            ObjectNode config = json.createObjectNode();
            config.put("add_prefix_space", false);
            config.set("bos_token", addedToken(json, BOS).put("__type", "AddedToken"));
            config.put("do_lower_case", true);
            config.set("eos_token", addedToken(json, EOS).put("__type", "AddedToken"));
            config.put("errors", "replace");
            config.put("model_max_length", 77);
            config.put("name_or_path", "jdiffusion/tiny-shapes");
            config.put("pad_token", EOS);
            config.put("special_tokens_map_file", "./special_tokens_map.json");
            config.put("tokenizer_class", "CLIPTokenizer");
            config.set("unk_token", addedToken(json, EOS).put("__type", "AddedToken"));
            byte[] configBytes = json.writerWithDefaultPrettyPrinter().writeValueAsBytes(config);
            AtomicFiles.write(folder.resolve("tokenizer_config.json"), tmp -> Files.write(tmp, configBytes));

            ObjectNode special = json.createObjectNode();
            special.set("bos_token", addedToken(json, BOS));
            special.set("eos_token", addedToken(json, EOS));
            special.put("pad_token", EOS);
            special.set("unk_token", addedToken(json, EOS));
            byte[] specialBytes = json.writerWithDefaultPrettyPrinter().writeValueAsBytes(special);
            AtomicFiles.write(folder.resolve("special_tokens_map.json"), tmp -> Files.write(tmp, specialBytes));
        } catch (IOException e) {
            throw new JDiffusionException("cannot write the tiny vocabulary to " + folder + ": " + e.getMessage(), e);
        }
    }

    /** The field layout of an AddedToken in transformers' JSON (the CLIP defaults). */
    private static ObjectNode addedToken(ObjectMapper json, String content) {
        ObjectNode t = json.createObjectNode();
        t.put("content", content);
        t.put("lstrip", false);
        t.put("normalized", true);
        t.put("rstrip", false);
        t.put("single_word", false);
        return t;
    }

    /** The word's UTF-8 bytes as byte symbols, the last one with {@code </w>}: where CLIP's bpe() starts. */
    private static List<String> symbols(String word, char[] encoder) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        List<String> out = new ArrayList<>();
        for (byte b : bytes) out.add(String.valueOf(encoder[b & 0xff]));
        out.set(out.size() - 1, out.getLast() + END);
        return out;
    }

    private static List<String> merge(List<String> word, String first, String second) {
        List<String> out = new ArrayList<>(word.size());
        for (int i = 0; i < word.size(); i++) {
            if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                out.add(first + second);
                i++;
            } else {
                out.add(word.get(i));
            }
        }
        return out;
    }

    /**
     * openai/CLIP's bytes_to_unicode, as its dict iterates: the printable Latin-1 bytes first,
     * standing for themselves, then the other 68 bytes in byte order with the code points from 256
     * up. Element i is {@code {byte, symbol}}; this order is the order of the vocabulary's first 256
     * entries.
     */
    static int[][] byteSymbols() {
        List<Integer> bs = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) bs.add(b);
        for (int b = 0xa1; b <= 0xac; b++) bs.add(b);
        for (int b = 0xae; b <= 0xff; b++) bs.add(b);
        int[][] out = new int[256][];
        for (int i = 0; i < bs.size(); i++) out[i] = new int[] {bs.get(i), bs.get(i)};
        int k = bs.size();
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (!bs.contains(b)) out[k++] = new int[] {b, 256 + n++};
        }
        return out;
    }
}
