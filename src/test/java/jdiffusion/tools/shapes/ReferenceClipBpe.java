package jdiffusion.tools.shapes;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A test-only transcription of openai/CLIP simple_tokenizer.py / transformers' CLIPTokenizer.bpe
 * for lower-case ASCII-ish text (no ftfy): reads the files as they do and applies merges lowest
 * rank first, merging every occurrence left to right, until no ranked pair remains. Kept apart
 * from {@link TinyVocabulary} so the two can disagree.
 */
final class ReferenceClipBpe {
    private static final Pattern WORDS = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);

    final Map<String, Integer> encoder;
    final Map<String, Integer> ranks = new HashMap<>();
    final List<String> mergeLines;
    private final Map<Integer, String> byteEncoder = new HashMap<>();

    ReferenceClipBpe(Path folder) throws IOException {
        encoder = new ObjectMapper().readValue(folder.resolve("vocab.json").toFile(),
                new TypeReference<LinkedHashMap<String, Integer>>() {});
        // merges = read().strip().split("\n")[1:...]; each line is one pair.
        String text = Files.readString(folder.resolve("merges.txt"), StandardCharsets.UTF_8).strip();
        String[] lines = text.split("\n");
        mergeLines = Arrays.asList(lines);
        for (int i = 1; i < lines.length; i++) ranks.put(lines[i], i - 1);
        // bytes_to_unicode, written as in the Python source.
        List<Integer> bs = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) bs.add(b);
        for (int b = '¡'; b <= '¬'; b++) bs.add(b);
        for (int b = '®'; b <= 'ÿ'; b++) bs.add(b);
        List<Integer> cs = new ArrayList<>(bs);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (!bs.contains(b)) {
                bs.add(b);
                cs.add(256 + n);
                n++;
            }
        }
        for (int i = 0; i < bs.size(); i++) byteEncoder.put(bs.get(i), Character.toString(cs.get(i)));
    }

    /** The BPE token strings of {@code text}. */
    List<String> tokens(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = WORDS.matcher(text.strip().replaceAll("\\s+", " ").toLowerCase(Locale.ROOT));
        while (m.find()) {
            StringBuilder token = new StringBuilder();
            for (byte b : m.group().getBytes(StandardCharsets.UTF_8)) token.append(byteEncoder.get(b & 0xff));
            out.addAll(List.of(bpe(token.toString()).split(" ")));
        }
        return out;
    }

    /** The token ids of {@code text}; a token missing from vocab.json is an error. */
    int[] ids(String text) {
        return tokens(text).stream().mapToInt(t -> {
            Integer id = encoder.get(t);
            if (id == null) throw new AssertionError("token '" + t + "' of '" + text + "' is not in vocab.json");
            return id;
        }).toArray();
    }

    private String bpe(String token) {
        List<String> word = new ArrayList<>();
        for (int i = 0; i < token.length() - 1; i++) word.add(token.substring(i, i + 1));
        word.add(token.substring(token.length() - 1) + "</w>");
        if (word.size() == 1) return word.getFirst();
        while (true) {
            String bigram = null;
            int best = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer r = ranks.get(word.get(i) + " " + word.get(i + 1));
                if (r != null && r < best) {
                    best = r;
                    bigram = word.get(i) + " " + word.get(i + 1);
                }
            }
            if (bigram == null) break;
            String first = bigram.split(" ")[0];
            String second = bigram.split(" ")[1];
            List<String> next = new ArrayList<>();
            int i = 0;
            while (i < word.size()) {
                int j = word.subList(i, word.size()).indexOf(first);
                if (j < 0) {
                    next.addAll(word.subList(i, word.size()));
                    break;
                }
                next.addAll(word.subList(i, i + j));
                i += j;
                if (word.get(i).equals(first) && i < word.size() - 1 && word.get(i + 1).equals(second)) {
                    next.add(first + second);
                    i += 2;
                } else {
                    next.add(word.get(i));
                    i += 1;
                }
            }
            word = next;
            if (word.size() == 1) break;
        }
        return String.join(" ", word);
    }
}
