package jdiffusion.tools.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;

/**
 * A CLIP tokenizer folder for random models. The real CLIP vocabulary cannot be shipped, so the
 * default is a byte-level one: CLIP's 512 base symbols (the 256 byte characters of
 * {@code bytes_to_unicode}, ids 0-255, and their word-final {@code </w>} forms, 256-511, in the
 * order of CLIP's own vocab.json) with no merges, plus {@code <|startoftext|>} 49406 and
 * {@code <|endoftext|>} 49407. Every prompt still tokenizes, one token per byte, so prompts are
 * longer in tokens than with the real vocabulary. Or a real tokenizer folder is copied.
 */
final class ByteLevelTokenizer {
    static final int BOS = 49406;
    static final int EOS = 49407;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> FILES =
            List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json");

    private ByteLevelTokenizer() {}

    /** Writes vocab.json, merges.txt (header only), tokenizer_config.json and special_tokens_map.json. */
    static void write(Path dir) {
        ObjectNode vocab = JSON.createObjectNode();
        List<Character> symbols = vocabularyOrder();
        for (int i = 0; i < 256; i++) vocab.put(String.valueOf(symbols.get(i)), i);
        for (int i = 0; i < 256; i++) vocab.put(symbols.get(i) + "</w>", 256 + i);
        vocab.put("<|startoftext|>", BOS);
        vocab.put("<|endoftext|>", EOS);
        writeText(dir.resolve("vocab.json"), vocab.toString());
        // tokenization_clip.py skips line 0 ("#version"): no merges, every word stays split into bytes
        writeText(dir.resolve("merges.txt"), "#version: 0.2\n");
        writeText(dir.resolve("tokenizer_config.json"), """
                {
                  "add_prefix_space": false,
                  "bos_token": "<|startoftext|>",
                  "clean_up_tokenization_spaces": false,
                  "do_lower_case": true,
                  "eos_token": "<|endoftext|>",
                  "errors": "replace",
                  "model_max_length": 77,
                  "pad_token": "<|endoftext|>",
                  "tokenizer_class": "CLIPTokenizer",
                  "unk_token": "<|endoftext|>",
                  "comment": "byte-level vocabulary written by jdiffusion create-random: no merges, one token per byte"
                }
                """);
        writeText(dir.resolve("special_tokens_map.json"), """
                {
                  "bos_token": "<|startoftext|>",
                  "eos_token": "<|endoftext|>",
                  "pad_token": "<|endoftext|>",
                  "unk_token": "<|endoftext|>"
                }
                """);
    }

    private static void writeText(Path file, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, tmp -> Files.write(tmp, bytes));
    }

    /** Copies a real CLIP tokenizer folder (or a pipeline's tokenizer/ subfolder). */
    static void copy(Path source, Path dir) {
        Path from = Files.isDirectory(source.resolve("tokenizer")) ? source.resolve("tokenizer") : source;
        if (!Files.isRegularFile(from.resolve("vocab.json")) || !Files.isRegularFile(from.resolve("merges.txt"))) {
            throw new JDiffusionException("--tokenizer " + source + ": no vocab.json and merges.txt there; "
                    + "give a CLIP tokenizer folder such as an SD pipeline's tokenizer/");
        }
        try {
            Files.createDirectories(dir);
            for (String name : FILES) {
                if (Files.isRegularFile(from.resolve(name))) {
                    Files.copy(from.resolve(name), dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new JDiffusionException("cannot copy the tokenizer from " + from + ": " + e.getMessage(), e);
        }
    }

    /**
     * The 256 characters of CLIP's (and GPT-2's) {@code bytes_to_unicode} in the order of
     * {@code list(bytes_to_unicode().values())}, which is CLIP's id order: the 188 printable bytes
     * as themselves ('!' is 0), then the other 68 bytes as U+0100 upwards (U+0100 is 188).
     */
    static List<Character> vocabularyOrder() {
        List<Character> order = new java.util.ArrayList<>();
        for (int b = '!'; b <= '~'; b++) order.add((char) b);
        for (int b = 0xA1; b <= 0xAC; b++) order.add((char) b);
        for (int b = 0xAE; b <= 0xFF; b++) order.add((char) b);
        for (int n = 0; order.size() < 256; n++) order.add((char) (256 + n));
        return order;
    }
}
