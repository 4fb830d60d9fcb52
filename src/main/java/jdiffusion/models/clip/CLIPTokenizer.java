package jdiffusion.models.clip;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.JDiffusionException;

/**
 * transformers models/clip/tokenization_clip.py CLIPTokenizer (slow, ftfy path), with the parts of
 * PreTrainedTokenizer it relies on: added-token splitting, truncation to 77 and padding.
 *
 * <p>A prompt is split at the added (special) tokens first; every other piece goes through
 * {@code whitespace_clean(ftfy.fix_text(piece)).lower()}, CLIP's word regex, the byte-to-unicode
 * map and byte-level BPE with {@code </w>} word ends. Immutable and thread-safe (the BPE cache is
 * concurrent), so one instance serves every request.
 */
public final class CLIPTokenizer {
    /** CLIP's context length: bos + 75 text tokens + eos. */
    public static final int MAX_LENGTH = 77;
    /** Text tokens per AUTOMATIC1111-style chunk. */
    public static final int CHUNK_TOKENS = MAX_LENGTH - 2;

    static final String VOCAB_FILE = "vocab.json";
    static final String MERGES_FILE = "merges.txt";
    static final String CONFIG_FILE = "tokenizer_config.json";
    static final String SPECIAL_TOKENS_FILE = "special_tokens_map.json";

    // tokenization_clip.py reads merges.txt lines 1 .. 49152 - 256 - 2: the merges that, with the
    // 256 bytes, their 256 word-end forms and the two special tokens, make the 49408-entry vocab.
    private static final int MAX_MERGES = 49152 - 256 - 2;
    private static final int CACHE_LIMIT = 100_000;

    /**
     * CLIP's word regex, case-insensitive as in tokenization_clip.py; {@code \s} is Python's
     * whitespace. Under the regex module's IGNORECASE, U+0345 (combining ypogegrammeni, whose case
     * partners are the letter iota) matches neither the letter nor the "other" class, so the
     * tokenizer drops it; it is excluded here to do the same.
     */
    private static final Pattern WORD = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^"
                    + FtfyData.PY_SPACE + "\\p{L}\\p{N}\\u0345]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
    private static final Pattern WHITESPACE_RUN = Pattern.compile("[" + FtfyData.PY_SPACE + "]+");
    private static final char[] BYTE_ENCODER = bytesToUnicode();
    private static final int[] BYTE_DECODER = invert(BYTE_ENCODER);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** An added token (special tokens included): never split, matched before BPE; flags as in tokenizers' AddedToken. */
    private record AddedToken(String content, int id, boolean lstrip, boolean rstrip, boolean singleWord) {
    }

    private final Map<String, Integer> encoder;
    private final String[] decoder;
    private final Map<String, Integer> bpeRanks;
    /** The added tokens as loaded (or added), kept to derive tokenizers with more of them. */
    private final List<AddedToken> added;
    /** Added tokens by content, longest first (the order the split tries them). */
    private final Map<String, AddedToken> addedTokens;
    private final String bos;
    private final String eos;
    private final String pad;
    private final String unk;
    private final int bosId;
    private final int eosId;
    private final int padId;
    private final int unkId;
    private final int modelMaxLength;
    private final boolean cleanUpTokenizationSpaces;
    private final Map<String, String[]> cache;

    private CLIPTokenizer(Map<String, Integer> encoder, Map<String, Integer> bpeRanks, List<AddedToken> added,
                          String bos, String eos, String pad, String unk, int modelMaxLength, boolean cleanUp) {
        this(encoder, bpeRanks, added, bos, eos, pad, unk, modelMaxLength, cleanUp, new ConcurrentHashMap<>());
        // tokenization_clip.py seeds its cache so that the special tokens, when the word regex
        // finds them in lower-cased text, map to themselves instead of being split.
        cache.put("<|startoftext|>", new String[] {"<|startoftext|>"});
        cache.put("<|endoftext|>", new String[] {"<|endoftext|>"});
    }

    /** Shares {@code cache} with the tokenizer it derives from: BPE results depend on the merges only. */
    private CLIPTokenizer(Map<String, Integer> encoder, Map<String, Integer> bpeRanks, List<AddedToken> added,
                          String bos, String eos, String pad, String unk, int modelMaxLength, boolean cleanUp,
                          Map<String, String[]> cache) {
        this.encoder = encoder;
        this.bpeRanks = bpeRanks;
        this.added = List.copyOf(added);
        Map<String, AddedToken> byContent = new LinkedHashMap<>();
        added.stream().sorted((a, b) -> b.content().length() - a.content().length())
                .forEach(t -> byContent.putIfAbsent(t.content(), t));
        this.addedTokens = byContent;
        // Added tokens may lie beyond the vocabulary (textual inversion tokens do); decode them too.
        int size = Math.max(encoder.values().stream().mapToInt(Integer::intValue).max().orElse(-1),
                added.stream().mapToInt(AddedToken::id).max().orElse(-1)) + 1;
        this.decoder = new String[size];
        encoder.forEach((token, id) -> decoder[id] = token);
        added.forEach(t -> {
            if (decoder[t.id()] == null) decoder[t.id()] = t.content();
        });
        this.bos = bos;
        this.eos = eos;
        this.pad = pad;
        this.unk = unk;
        this.bosId = idOf(bos);
        this.eosId = idOf(eos);
        this.padId = idOf(pad);
        this.unkId = idOf(unk);
        this.modelMaxLength = modelMaxLength;
        this.cleanUpTokenizationSpaces = cleanUp;
        this.cache = cache;
    }

    /**
     * Loads the tokenizer of a pipeline folder (its {@code tokenizer/} subfolder) or of a bare
     * tokenizer folder: vocab.json, merges.txt and tokenizer_config.json (special_tokens_map.json
     * is read when present, as transformers does).
     */
    public static CLIPTokenizer load(Path folder) {
        Path dir = tokenizerFolder(folder);
        Map<String, Integer> vocab = readJson(dir, VOCAB_FILE, new TypeReference<LinkedHashMap<String, Integer>>() {
        });
        Map<String, Integer> ranks = readMerges(dir.resolve(MERGES_FILE));
        JsonNode config = readJson(dir, CONFIG_FILE, new TypeReference<JsonNode>() {
        });

        // Special tokens: tokenizer_config.json, overridden by special_tokens_map.json in the
        // legacy layout (no added_tokens_decoder), as PreTrainedTokenizerBase.from_pretrained does.
        Map<String, JsonNode> special = new HashMap<>();
        for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
            if (config.hasNonNull(key)) special.put(key, config.get(key));
        }
        Path specialFile = dir.resolve(SPECIAL_TOKENS_FILE);
        if (!config.has("added_tokens_decoder") && Files.isRegularFile(specialFile)) {
            JsonNode map = readJson(dir, SPECIAL_TOKENS_FILE, new TypeReference<JsonNode>() {
            });
            map.properties().forEach(e -> {
                if (e.getKey().endsWith("_token") && !e.getValue().isNull()) special.put(e.getKey(), e.getValue());
            });
        }
        // CLIPTokenizer's defaults when a file does not name a token.
        String bos = content(special.get("bos_token"), "<|startoftext|>");
        String eos = content(special.get("eos_token"), "<|endoftext|>");
        String unk = content(special.get("unk_token"), "<|endoftext|>");
        String pad = content(special.get("pad_token"), "<|endoftext|>");

        List<AddedToken> added = new ArrayList<>();
        JsonNode decoderNode = config.path("added_tokens_decoder");
        decoderNode.properties().forEach(e -> added.add(addedToken(e.getValue(), Integer.parseInt(e.getKey()))));
        for (JsonNode node : special.values()) added.add(addedToken(node, idIn(vocab, added, content(node, null), dir)));
        for (JsonNode node : config.path("additional_special_tokens")) {
            added.add(addedToken(node, idIn(vocab, added, content(node, null), dir)));
        }
        for (String token : List.of(bos, eos, unk, pad)) idIn(vocab, added, token, dir);

        JsonNode max = config.path("model_max_length");
        // Hub files sometimes say 1e30 ("no limit"); CLIP's position table has 77 entries.
        int modelMaxLength = max.canConvertToInt() && max.asInt() >= 2 ? max.asInt() : MAX_LENGTH;
        boolean cleanUp = config.path("clean_up_tokenization_spaces").asBoolean(false);
        return new CLIPTokenizer(vocab, ranks, added, bos, eos, pad, unk, modelMaxLength, cleanUp);
    }

    /** The folder with the tokenizer files: {@code folder/tokenizer} when it exists, else {@code folder}. */
    static Path tokenizerFolder(Path folder) {
        if (!Files.isDirectory(folder)) {
            throw new JDiffusionException("the model folder " + folder + " does not exist; " + folderHint());
        }
        Path sub = folder.resolve("tokenizer");
        Path dir = Files.isDirectory(sub) ? sub : folder;
        for (String name : List.of(VOCAB_FILE, MERGES_FILE, CONFIG_FILE)) {
            if (!Files.isRegularFile(dir.resolve(name))) {
                throw new JDiffusionException(name + " is missing in " + dir + "; " + folderHint());
            }
        }
        return dir;
    }

    private static String folderHint() {
        return "--model takes a pipeline folder (with a tokenizer/ subfolder) or a tokenizer folder"
                + " (vocab.json, merges.txt, tokenizer_config.json)";
    }

    /**
     * A new tokenizer that also knows {@code tokens}, as transformers' {@code tokenizer.add_tokens}
     * does for textual inversion: each string is matched exactly (case-sensitive, anywhere in the
     * text) before BPE and gets the next free id, from the current size upwards in list order. This
     * tokenizer is left unchanged, so one loaded for a model can serve requests with and without
     * the added tokens at once.
     *
     * @throws JDiffusionException when a token is empty, repeated, already in the vocabulary or
     *     already added (diffusers refuses these too: the old id would silently win)
     */
    public CLIPTokenizer withAddedTokens(List<String> tokens) {
        List<AddedToken> all = new ArrayList<>(added);
        int next = size();
        Set<String> seen = new HashSet<>();
        for (String token : tokens) {
            if (token == null || token.isEmpty()) throw new JDiffusionException("an added token must not be empty");
            if (!seen.add(token)) throw new JDiffusionException("the token " + token + " is added twice");
            if (encoder.containsKey(token) || addedTokens.containsKey(token)) {
                throw new JDiffusionException("the token " + token + " is already in the tokenizer's vocabulary;"
                        + " choose another name for it (textual inversion: pass a token name when loading)");
            }
            all.add(new AddedToken(token, next++, false, false, false));
        }
        return new CLIPTokenizer(encoder, bpeRanks, all, bos, eos, pad, unk, modelMaxLength,
                cleanUpTokenizationSpaces, cache);
    }

    // ---------------------------------------------------------------------------------------------
    // Encoding

    /** The BPE token strings of the text, without bos/eos (PreTrainedTokenizer.tokenize). */
    public List<String> tokens(String text) {
        List<String> pieces = splitOnAddedTokens(text);
        List<String> tokens = new ArrayList<>();
        for (String piece : pieces) {
            if (piece.isEmpty()) continue;
            if (addedTokens.containsKey(piece)) tokens.add(piece);
            else bpeTokens(piece, tokens);
        }
        return tokens;
    }

    /** The text token ids, without bos/eos and without truncation. */
    public int[] textIds(String text) {
        return tokens(text).stream().mapToInt(this::tokenId).toArray();
    }

    /** bos + every text token + eos: no truncation, no padding. */
    public int[] encode(String text) {
        return withSpecialTokens(textIds(text), Integer.MAX_VALUE);
    }

    /** {@link #encodePadded(String, int)} with the model's maximum length (77). */
    public int[] encodePadded(String text) {
        return encodePadded(text, modelMaxLength);
    }

    /**
     * {@code tokenizer(text, padding="max_length", max_length=maxLength, truncation=True)}: bos +
     * the first maxLength - 2 text tokens + eos, padded with the pad id to maxLength.
     */
    public int[] encodePadded(String text, int maxLength) {
        return pad(withSpecialTokens(textIds(text), maxLength), maxLength);
    }

    /** The padded ids together with what truncation removed (for diffusers' warning). */
    public EncodedPrompt encodePrompt(String text) {
        return encodePrompt(text, modelMaxLength);
    }

    public EncodedPrompt encodePrompt(String text, int maxLength) {
        List<String> tokens = tokens(text);
        int[] textIds = tokens.stream().mapToInt(this::tokenId).toArray();
        int[] untruncated = withSpecialTokens(textIds, Integer.MAX_VALUE);
        int[] ids = pad(withSpecialTokens(textIds, maxLength), maxLength);
        // diffusers decodes untruncated_ids[:, max_length - 1 : -1]: everything after the kept
        // tokens, without the final eos.
        String removed = untruncated.length > maxLength
                ? decode(Arrays.copyOfRange(untruncated, maxLength - 1, untruncated.length - 1)) : "";
        return new EncodedPrompt(text, ids, untruncated, tokens, removed);
    }

    /** The length of {@link #encode}: text tokens + 2. More than 77 means the prompt will be truncated. */
    public int untruncatedLength(String text) {
        return textIds(text).length + 2;
    }

    /**
     * AUTOMATIC1111-style chunks: the text tokens cut into runs of 75, each run as bos + tokens +
     * eos padded to 77 with the pad id (A1111 pads SD1 with eos and SD2 with 0, which are these
     * files' pad tokens). An empty prompt gives one chunk. Only the plain cut: A1111's attention
     * syntax, BREAK and its comma back-tracking are prompt parsing, not tokenization.
     */
    public List<int[]> chunks75(String text) {
        int[] ids = textIds(text);
        List<int[]> chunks = new ArrayList<>();
        for (int start = 0; start < ids.length || chunks.isEmpty(); start += CHUNK_TOKENS) {
            int[] run = Arrays.copyOfRange(ids, start, Math.min(ids.length, start + CHUNK_TOKENS));
            chunks.add(pad(withSpecialTokens(run, MAX_LENGTH), MAX_LENGTH));
        }
        return chunks;
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    /**
     * The text of the ids, special tokens included ({@code tokenizer.decode(ids)}): byte-level
     * characters back to UTF-8 (invalid bytes become U+FFFD), {@code </w>} to spaces, stripped.
     */
    public String decode(int[] ids) {
        StringBuilder joined = new StringBuilder();
        for (int id : ids) {
            String token = token(id);
            if (token != null) joined.append(token);
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int i = 0; i < joined.length(); i++) {
            int b = byteOf(joined.charAt(i));
            if (b >= 0) bytes.write(b);
            else bytes.writeBytes(String.valueOf(joined.charAt(i)).getBytes(StandardCharsets.UTF_8));
        }
        String text = pythonStrip(bytes.toString(StandardCharsets.UTF_8).replace("</w>", " "));
        return cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
    }

    /** The token string of an id, or null for an id outside the vocabulary. */
    public String token(int id) {
        return id >= 0 && id < decoder.length ? decoder[id] : null;
    }

    /** The entries of vocab.json (49408 for CLIP); added tokens beyond it are not counted. */
    public int vocabSize() {
        return encoder.size();
    }

    /** {@code len(tokenizer)}: one more than the largest id, added tokens included. */
    public int size() {
        return decoder.length;
    }

    /**
     * {@code convert_tokens_to_ids} for a known token: an added token's id, else its vocab.json id
     * (BPE token strings such as {@code ",</w>"}).
     *
     * @throws JDiffusionException when the tokenizer does not know the token
     */
    public int idOf(String token) {
        AddedToken added = addedTokens.get(token);
        if (added != null) return added.id();
        Integer id = encoder.get(token);
        if (id == null) throw new JDiffusionException("the token " + token + " is not in the vocabulary");
        return id;
    }

    public int bosId() {
        return bosId;
    }

    public int eosId() {
        return eosId;
    }

    /** 49407 (eos) for SD 1.x tokenizers, 0 ('!') for SD 2.x ones. */
    public int padId() {
        return padId;
    }

    /** tokenizer_config.json's model_max_length (77 for CLIP). */
    public int modelMaxLength() {
        return modelMaxLength;
    }

    // ---------------------------------------------------------------------------------------------
    // Internals

    private int tokenId(String token) {
        // convert_tokens_to_ids: added tokens first (SD2's '!' is one, with its vocab id 0).
        AddedToken added = addedTokens.get(token);
        if (added != null) return added.id();
        return encoder.getOrDefault(token, unkId);
    }

    private int[] withSpecialTokens(int[] textIds, int maxLength) {
        if (maxLength < 2) throw new IllegalArgumentException("maxLength must be at least 2 (bos + eos), got " + maxLength);
        int kept = Math.min(textIds.length, maxLength - 2);
        int[] ids = new int[kept + 2];
        ids[0] = bosId;
        System.arraycopy(textIds, 0, ids, 1, kept);
        ids[kept + 1] = eosId;
        return ids;
    }

    private int[] pad(int[] ids, int length) {
        int[] padded = Arrays.copyOf(ids, length);
        Arrays.fill(padded, ids.length, length, padId);
        return padded;
    }

    /**
     * Trie.split plus the lstrip/rstrip/single_word handling of PreTrainedTokenizer.tokenize:
     * the text cut before and after every added token (leftmost match, longest first), with
     * empty pieces dropped.
     */
    private List<String> splitOnAddedTokens(String text) {
        List<String> pieces = new ArrayList<>();
        int start = 0;
        int i = 0;
        while (i < text.length()) {
            String match = null;
            for (String content : addedTokens.keySet()) {
                if (text.startsWith(content, i)) {
                    match = content;
                    break;
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            if (i > start) pieces.add(text.substring(start, i));
            pieces.add(match);
            i += match.length();
            start = i;
        }
        if (start < text.length()) pieces.add(text.substring(start));

        for (int k = 0; k < pieces.size(); k++) {
            AddedToken token = addedTokens.get(pieces.get(k));
            if (token == null) continue;
            String left = k > 0 ? pieces.get(k - 1) : null;
            String right = k + 1 < pieces.size() ? pieces.get(k + 1) : null;
            if (token.rstrip() && right != null && !right.isEmpty()) pieces.set(k + 1, pythonLstrip(right));
            if (token.lstrip() && left != null && !left.isEmpty()) pieces.set(k - 1, pythonRstrip(left));
            if (token.singleWord() && left != null && !left.isEmpty() && !left.endsWith(" ")) {
                pieces.set(k - 1, left + pieces.get(k));
                pieces.set(k, "");
            } else if (token.singleWord() && right != null && !right.isEmpty() && !right.startsWith(" ")) {
                pieces.set(k, pieces.get(k) + right);
                pieces.set(k + 1, "");
            }
        }
        return pieces;
    }

    /** CLIPTokenizer._tokenize: ftfy, whitespace clean-up, lower case, CLIP's regex, byte-level BPE. */
    private void bpeTokens(String text, List<String> out) {
        String clean = pythonLower(whitespaceClean(Ftfy.fixText(text)));
        Matcher m = WORD.matcher(clean);
        while (m.find()) {
            byte[] utf8 = m.group().getBytes(StandardCharsets.UTF_8);
            char[] word = new char[utf8.length];
            for (int i = 0; i < utf8.length; i++) word[i] = BYTE_ENCODER[utf8[i] & 0xFF];
            out.addAll(Arrays.asList(bpe(new String(word))));
        }
    }

    /** CLIPTokenizer.bpe: merges the lowest-ranked adjacent pair, all occurrences, until none is ranked. */
    private String[] bpe(String token) {
        String[] cached = cache.get(token);
        if (cached != null) return cached;
        List<String> word = new ArrayList<>(token.length());
        for (int i = 0; i < token.length() - 1; i++) word.add(String.valueOf(token.charAt(i)));
        word.add(token.charAt(token.length() - 1) + "</w>");

        while (word.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int i = 0; i + 1 < word.size(); i++) {
                Integer rank = bpeRanks.get(word.get(i) + " " + word.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) break;
            List<String> merged = new ArrayList<>(word.size());
            for (int i = 0; i < word.size(); i++) {
                if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i++;
                } else {
                    merged.add(word.get(i));
                }
            }
            word = merged;
        }
        String[] result = word.toArray(String[]::new);
        // Bounded so that a server fed arbitrary prompts does not grow without limit.
        if (cache.size() < CACHE_LIMIT) cache.put(token, result);
        return result;
    }

    /**
     * GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
     * (controls, space, 0x7F-0xA0, 0xAD) for U+0100 onwards, so BPE never sees whitespace.
     */
    private static char[] bytesToUnicode() {
        char[] table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char) b : (char) next++;
        }
        return table;
    }

    private static int[] invert(char[] encoder) {
        int[] decoder = new int[512];
        Arrays.fill(decoder, -1);
        for (int b = 0; b < encoder.length; b++) decoder[encoder[b]] = b;
        return decoder;
    }

    private static int byteOf(char c) {
        return c < BYTE_DECODER.length ? BYTE_DECODER[c] : -1;
    }

    /** whitespace_clean: runs of (Python) whitespace become one space; the ends are stripped. */
    static String whitespaceClean(String text) {
        return pythonStrip(WHITESPACE_RUN.matcher(text).replaceAll(" "));
    }

    /**
     * Python's str.lower(). Java's toLowerCase differs only for capital sigma: it makes a final
     * sigma (ς) only when no cased letter follows anywhere after other characters, while Unicode
     * (and Python) look past case-ignorable characters only: "OΣ\"a" is "oς\"a" in Python.
     */
    static String pythonLower(String text) {
        if (text.indexOf('Σ') < 0) return text.toLowerCase(Locale.ROOT);
        StringBuilder out = new StringBuilder(text.length());
        int start = 0;
        for (int i = text.indexOf('Σ'); i >= 0; i = text.indexOf('Σ', start)) {
            out.append(text.substring(start, i).toLowerCase(Locale.ROOT));
            out.append(isFinalSigma(text, i) ? 'ς' : 'σ');
            start = i + 1;
        }
        return out.append(text.substring(start).toLowerCase(Locale.ROOT)).toString();
    }

    /** Unicode's Final_Sigma: a cased letter before (past case-ignorables), none after (past case-ignorables). */
    private static boolean isFinalSigma(String text, int i) {
        int j = i;
        int before = -1;
        while (j > 0) {
            int cp = text.codePointBefore(j);
            j -= Character.charCount(cp);
            if (!isCaseIgnorable(cp)) {
                before = cp;
                break;
            }
        }
        if (before < 0 || !isCased(before)) return false;
        for (j = i + 1; j < text.length(); ) {
            int cp = text.codePointAt(j);
            j += Character.charCount(cp);
            if (!isCaseIgnorable(cp)) return !isCased(cp);
        }
        return true;
    }

    private static boolean isCased(int cp) {
        return Character.isLowerCase(cp) || Character.isUpperCase(cp) || Character.isTitleCase(cp);
    }

    /** Unicode Case_Ignorable: Mn, Me, Cf, Lm, Sk, or word-break MidLetter, MidNumLet, Single_Quote. */
    private static boolean isCaseIgnorable(int cp) {
        return switch (Character.getType(cp)) {
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.FORMAT, Character.MODIFIER_LETTER,
                    Character.MODIFIER_SYMBOL -> true;
            default -> "':.\u00b7\u0387\u055f\u05f4\u2018\u2019\u2024\u2027\ufe13\ufe52\ufe55\uff07\uff0e\uff1a"
                    .indexOf(cp) >= 0;
        };
    }

    private static boolean isPythonSpace(char c) {
        return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }

    private static String pythonStrip(String s) {
        return pythonRstrip(pythonLstrip(s));
    }

    private static String pythonLstrip(String s) {
        int i = 0;
        while (i < s.length() && isPythonSpace(s.charAt(i))) i++;
        return s.substring(i);
    }

    private static String pythonRstrip(String s) {
        int j = s.length();
        while (j > 0 && isPythonSpace(s.charAt(j - 1))) j--;
        return s.substring(0, j);
    }

    /** PreTrainedTokenizerBase.clean_up_tokenization. */
    private static String cleanUpTokenization(String text) {
        return text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
                .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
                .replace(" 've", "'ve").replace(" 're", "'re");
    }

    private static Map<String, Integer> readMerges(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read " + file + ": " + e.getMessage(), e);
        }
        // tokenization_clip.py: read().strip().split("\n")[1 : MAX_MERGES + 1]; line 0 is "#version".
        String[] lines = pythonStrip(text).split("\n", -1);
        Map<String, Integer> ranks = new HashMap<>(2 * MAX_MERGES);
        for (int i = 1; i < lines.length && i <= MAX_MERGES; i++) {
            String[] pair = pythonStrip(lines[i]).split("[" + FtfyData.PY_SPACE + "]+");
            if (pair.length == 2) ranks.putIfAbsent(pair[0] + " " + pair[1], i - 1);
        }
        return ranks;
    }

    private static <T> T readJson(Path dir, String name, TypeReference<T> type) {
        Path file = dir.resolve(name);
        try {
            return JSON.readValue(file.toFile(), type);
        } catch (IOException e) {
            throw new JDiffusionException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** A token in a config: a plain string, or an object with "content" (an AddedToken). */
    private static String content(JsonNode node, String fallback) {
        if (node == null || node.isNull()) return fallback;
        return node.isTextual() ? node.asText() : node.path("content").asText(fallback);
    }

    private static AddedToken addedToken(JsonNode node, int id) {
        // A special token given as a plain string is an AddedToken without strip flags.
        return new AddedToken(content(node, ""), id, node.path("lstrip").asBoolean(false),
                node.path("rstrip").asBoolean(false), node.path("single_word").asBoolean(false));
    }

    private static int idIn(Map<String, Integer> vocab, List<AddedToken> added, String token, Path dir) {
        Integer id = vocab.get(token);
        if (id != null) return id;
        for (AddedToken t : added) {
            if (t.content().equals(token)) return t.id();
        }
        throw new JDiffusionException("the token " + token + " named in " + dir.resolve(CONFIG_FILE)
                + " is neither in vocab.json nor in added_tokens_decoder");
    }
}
