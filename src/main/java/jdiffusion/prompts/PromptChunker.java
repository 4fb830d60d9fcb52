package jdiffusion.prompts;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTokenizer;

/**
 * AUTOMATIC1111's {@code FrozenCLIPEmbedderWithCustomWordsBase.tokenize_line}
 * (<a href="https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/sd_hijack_clip.py">sd_hijack_clip.py</a>):
 * attention fragments to chunks of at most 75 tokens, each token with its multiplier.
 *
 * <p>Each fragment is tokenized on its own, as A1111 does. A chunk ends when it holds 75 tokens, at
 * a BREAK marker, or before a textual inversion that would not fit whole. When a chunk is full and
 * its last comma is at most {@code commaBacktrack} tokens back, the tokens after that comma move to
 * the next chunk, so that a phrase is not cut in two. Immutable.
 */
final class PromptChunker {
    /** A chunk's text tokens (at most 75, no bos/eos/padding) and their multipliers. */
    record Chunk(int[] tokens, double[] multipliers) {
    }

    private final CLIPTokenizer tokenizer;
    /** The first id of each multi-vector textual inversion -> the ids of all its vectors. */
    private final Map<Integer, int[]> groups;
    /** {@code ,</w>}: A1111's comma_token, -1 when the vocabulary has none. */
    private final int commaId;

    PromptChunker(CLIPTokenizer tokenizer, Map<Integer, int[]> groups) {
        this.tokenizer = tokenizer;
        this.groups = Map.copyOf(groups);
        int comma;
        try {
            comma = tokenizer.idOf(",</w>");
        } catch (JDiffusionException e) {
            comma = -1; // a vocabulary without ",</w>": no comma back-tracking
        }
        this.commaId = comma;
    }

    /** The chunks of the fragments; never empty (an empty prompt gives one empty chunk). */
    List<Chunk> chunk(List<PromptFragment> fragments, int commaBacktrack) {
        Builder b = new Builder();
        for (PromptFragment fragment : fragments) {
            if (fragment.isBreak()) {
                b.nextChunk();
                continue;
            }
            for (int token : tokenizer.textIds(fragment.text())) {
                if (token == commaId) {
                    b.lastComma = b.size;
                } else if (commaBacktrack != 0 && b.size == CLIPTokenizer.CHUNK_TOKENS && b.lastComma != -1
                        && b.size - b.lastComma <= commaBacktrack) {
                    b.moveAfterCommaToNextChunk();
                }
                if (b.size == CLIPTokenizer.CHUNK_TOKENS) b.nextChunk();

                int[] group = groups.get(token);
                if (group == null) {
                    b.add(token, fragment.weight());
                    continue;
                }
                // A textual inversion is never split across chunks.
                if (b.size + group.length > CLIPTokenizer.CHUNK_TOKENS) b.nextChunk();
                for (int id : group) b.add(id, fragment.weight());
            }
        }
        if (b.size > 0 || b.chunks.isEmpty()) b.nextChunk();
        return List.copyOf(b.chunks);
    }

    /**
     * The 77 input ids of a chunk: bos + tokens + eos + pad ids, as {@code tokenizer(padding="max_length")}.
     * A1111 ({@code a1111Padding}) fills the chunk with eos and, when pad differs from eos (SD 2.x),
     * turns everything after the FIRST eos into pad; that differs only if the prompt itself holds
     * an eos token.
     */
    int[] inputIds(Chunk chunk, boolean a1111Padding) {
        int[] ids = new int[CLIPTokenizer.MAX_LENGTH];
        ids[0] = tokenizer.bosId();
        System.arraycopy(chunk.tokens(), 0, ids, 1, chunk.tokens().length);
        int eosAt = chunk.tokens().length + 1;
        if (a1111Padding && tokenizer.eosId() != tokenizer.padId()) {
            // process_tokens: "tokens[index + 1:] = id_pad" from the first eos, wherever it is.
            for (int i = 1; i < eosAt; i++) {
                if (ids[i] == tokenizer.eosId()) {
                    eosAt = i;
                    break;
                }
            }
        }
        ids[eosAt] = tokenizer.eosId();
        Arrays.fill(ids, eosAt + 1, ids.length, tokenizer.padId());
        return ids;
    }

    /** The 77 multipliers of a chunk: 1.0 for bos, eos and padding. */
    static float[] multipliers(Chunk chunk) {
        float[] m = new float[CLIPTokenizer.MAX_LENGTH];
        Arrays.fill(m, 1f);
        // A1111 hands Python floats to torch.asarray, which makes float32.
        for (int i = 0; i < chunk.multipliers().length; i++) m[i + 1] = (float) chunk.multipliers()[i];
        return m;
    }

    /** The chunk being filled, and the finished ones (next_chunk and its nonlocal state). */
    private static final class Builder {
        final List<Chunk> chunks = new ArrayList<>();
        int[] tokens = new int[CLIPTokenizer.CHUNK_TOKENS];
        double[] multipliers = new double[CLIPTokenizer.CHUNK_TOKENS];
        int size;
        int lastComma = -1;

        void add(int token, double multiplier) {
            tokens[size] = token;
            multipliers[size] = multiplier;
            size++;
        }

        void nextChunk() {
            chunks.add(new Chunk(Arrays.copyOf(tokens, size), Arrays.copyOf(multipliers, size)));
            size = 0;
            lastComma = -1;
        }

        /** The chunk ends after its last comma; the tokens behind it start the next one. */
        void moveAfterCommaToNextChunk() {
            int at = lastComma + 1;
            int[] movedTokens = Arrays.copyOfRange(tokens, at, size);
            double[] movedMultipliers = Arrays.copyOfRange(multipliers, at, size);
            size = at;
            nextChunk();
            for (int i = 0; i < movedTokens.length; i++) add(movedTokens[i], movedMultipliers[i]);
        }
    }
}
