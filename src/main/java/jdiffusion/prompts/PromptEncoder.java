package jdiffusion.prompts;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.clip.EncodedPrompt;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The text conditioning of the pipelines: a prompt to [1, 77 * chunks, C] embeddings, in
 * diffusers' way (truncate at 77, no syntax) or AUTOMATIC1111's (attention weights, 75-token
 * chunks, BREAK; {@code FrozenCLIPEmbedderWithCustomWordsBase} in
 * <a href="https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/sd_hijack_clip.py">sd_hijack_clip.py</a>),
 * with textual inversion embeddings.
 *
 * <p>Immutable and shareable: {@link #withTextualInversions} returns a new encoder and leaves this
 * one, its tokenizer and its text model unchanged. Encoding runs inside the caller's PointerScope.
 * Extra-network tags such as {@code <lora:x:0.8>} are not removed here: take them out with
 * {@link PromptParser#extractExtraNetworks} first (they change the models before encoding).
 *
 * <pre>{@code
 * PromptEncoder encoder = new PromptEncoder(tokenizer, textEncoder);
 * try (PointerScope scope = new PointerScope()) {
 *     PromptEmbedsPair pair = encoder.encodePair(prompt, negativePrompt, PromptOptions.A1111);
 *     Tensor ehs = pair.guidanceBatch(); // [2, 77k, C], negative first
 * }
 * }</pre>
 */
public final class PromptEncoder {
    private final CLIPTokenizer tokenizer;
    private final CLIPTextModel textModel;
    private final List<TextualInversion> textualInversions;
    private final AddedTokenEmbeddings added;
    private final PromptChunker chunker;

    public PromptEncoder(CLIPTokenizer tokenizer, CLIPTextModel textModel) {
        this(tokenizer, textModel, List.of(), checkedTable(tokenizer, textModel), Map.of());
    }

    private PromptEncoder(CLIPTokenizer tokenizer, CLIPTextModel textModel, List<TextualInversion> textualInversions,
                          AddedTokenEmbeddings added, Map<Integer, int[]> groups) {
        this.tokenizer = tokenizer;
        this.textModel = textModel;
        this.textualInversions = List.copyOf(textualInversions);
        this.added = added;
        this.chunker = new PromptChunker(tokenizer, groups);
    }

    private static AddedTokenEmbeddings checkedTable(CLIPTokenizer tokenizer, CLIPTextModel textModel) {
        int vocab = textModel.config().vocabSize();
        if (tokenizer.size() > vocab) {
            throw new JDiffusionException("the tokenizer knows " + tokenizer.size() + " tokens but the text encoder has "
                    + vocab + " token embeddings; they do not belong to the same model");
        }
        return AddedTokenEmbeddings.none(tokenizer.size(), textModel.config().hiddenSize());
    }

    /**
     * A new encoder that also knows these embeddings: their tokens are added to (a copy of) the
     * tokenizer, and their vectors replace the token lookup for those ids.
     *
     * @throws JDiffusionException when a vector length differs from the text encoder's hidden size
     *     (an SD 2.x embedding on an SD 1.x model, say), or a token is already known
     */
    public PromptEncoder withTextualInversions(List<TextualInversion> embeddings) {
        int hidden = textModel.config().hiddenSize();
        List<String> tokens = new ArrayList<>();
        AddedTokenEmbeddings table = added;
        for (TextualInversion ti : embeddings) {
            if (ti.dim() != hidden) {
                throw new JDiffusionException("the textual inversion " + ti.token() + " has " + ti.dim()
                        + "-dimensional vectors but this text encoder's token embeddings are " + hidden
                        + "-dimensional (" + modelHint(ti.dim()) + " embedding on " + modelHint(hidden) + " model?)");
            }
            tokens.addAll(ti.tokens());
            table = table.with(ti);
        }
        CLIPTokenizer extended = tokenizer.withAddedTokens(tokens);
        if (table.nextId() != extended.size()) {
            throw new IllegalStateException("added token ids " + extended.size() + " and embedding rows "
                    + table.nextId() + " went out of step");
        }
        List<TextualInversion> all = new ArrayList<>(textualInversions);
        all.addAll(embeddings);
        Map<Integer, int[]> groups = new HashMap<>(); // first id -> the ids of all its vectors
        for (TextualInversion ti : all) groups.put(extended.idOf(ti.token()), ids(extended, ti));
        return new PromptEncoder(extended, textModel, all, table, groups);
    }

    private static int[] ids(CLIPTokenizer tokenizer, TextualInversion ti) {
        return ti.tokens().stream().mapToInt(tokenizer::idOf).toArray();
    }

    private static String modelHint(int dim) {
        return switch (dim) {
            case 768 -> "an SD 1.x";
            case 1024 -> "an SD 2.x";
            case 1280 -> "an SDXL (clip_g)";
            default -> "a " + dim + "-dimensional";
        };
    }

    /** The tokenizer with the textual inversion tokens added. */
    public CLIPTokenizer tokenizer() {
        return tokenizer;
    }

    public CLIPTextModel textModel() {
        return textModel;
    }

    public List<TextualInversion> textualInversions() {
        return textualInversions;
    }

    /** The positive prompt's conditioning ({@code options.clipSkip()} applies). */
    public PromptEmbeds encode(String prompt, PromptOptions options) {
        return encode(prompt, options, options.clipSkip());
    }

    /**
     * The prompt and negative prompt (null = "", as in diffusers), each with its clip skip, the
     * shorter one {@link #padTo padded} so that both have as many chunks and CFG runs one batch.
     */
    public PromptEmbedsPair encodePair(String prompt, String negativePrompt, PromptOptions options) {
        PromptEmbeds positive = encode(prompt, options, options.clipSkip());
        PromptEmbeds negative = encode(negativePrompt == null ? "" : negativePrompt, options, options.negativeClipSkip());
        int chunks = Math.max(positive.chunks(), negative.chunks());
        return new PromptEmbedsPair(padTo(positive, chunks), padTo(negative, chunks));
    }

    /**
     * The embeddings with encodings of the empty prompt appended until they hold {@code chunks}
     * chunks: A1111's {@code pad_cond} with {@code cond_stage_model_empty_prompt} ("Pad prompt/negative
     * prompt"). Also for batches of several prompts: pad each to the longest. A1111's default instead
     * runs the UNet on unequal lengths separately; padding changes the result slightly.
     */
    public PromptEmbeds padTo(PromptEmbeds e, int chunks) {
        if (chunks < e.chunks()) {
            throw new JDiffusionException("cannot pad " + e.chunks() + " chunks to " + chunks);
        }
        if (chunks == e.chunks()) return e;
        // The empty prompt is bos + eos + padding in every mode; only the layer matters.
        Tensor empty = encodeIds(chunker.inputIds(new PromptChunker.Chunk(new int[0], new double[0]), false), e.clipSkip());
        Tensor embeds = torch.cat(new TensorVector(e.embeds(), empty.repeat(1, chunks - e.chunks(), 1)), 1);
        return new PromptEmbeds(embeds, e.mode(), e.clipSkip(), chunks, e.tokenCount(), e.truncationWarning());
    }

    /** {@link #encode(String, PromptOptions)} with an explicit clip skip (diffusers' convention). */
    public PromptEmbeds encode(String prompt, PromptOptions options, int clipSkip) {
        // 1. Attention fragments (or the whole text at weight 1).
        List<PromptFragment> fragments = options.emphasis().parses()
                ? PromptParser.parseAttention(prompt) : List.of(new PromptFragment(prompt, 1.0));

        // 2. Chunks of at most 75 tokens; truncation keeps the first and reports the rest as diffusers does.
        boolean chunked = options.longPrompts() == LongPromptMode.CHUNK;
        List<PromptChunker.Chunk> chunks = chunker.chunk(fragments, chunked ? options.commaBacktrack() : 0);
        int tokenCount = chunks.stream().mapToInt(c -> c.tokens().length).sum();
        String warning = null;
        if (!chunked && chunks.size() > 1) {
            List<PromptChunker.Chunk> dropped = chunks.subList(1, chunks.size());
            int[] removed = dropped.stream().flatMapToInt(c -> Arrays.stream(c.tokens())).toArray();
            warning = EncodedPrompt.truncationWarning(tokenizer.decode(removed), CLIPTokenizer.MAX_LENGTH);
            chunks = chunks.subList(0, 1);
        }

        // 3. Each chunk through the text encoder on its own, weighted; then side by side.
        List<Tensor> zs = new ArrayList<>(chunks.size());
        for (PromptChunker.Chunk chunk : chunks) {
            int[] ids = chunker.inputIds(chunk, chunked);
            Tensor z = encodeIds(ids, clipSkip); // [1, 77, C]
            if (options.emphasis().weights()) z = applyWeights(z, PromptChunker.multipliers(chunk), options.emphasis());
            zs.add(z);
        }
        Tensor embeds = zs.size() == 1 ? zs.getFirst() : torch.cat(new TensorVector(zs.toArray(Tensor[]::new)), 1);
        return new PromptEmbeds(embeds, options.longPrompts(), clipSkip, chunks.size(), tokenCount, warning);
    }

    /**
     * The text encoder on 77 ids: the plain path unless a textual inversion token is among them, so
     * that prompts without one give exactly {@code textModel.encode(ids)}.
     */
    Tensor encodeIds(int[] ids, int clipSkip) {
        long[] longs = new long[ids.length];
        boolean hasAdded = false;
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
            hasAdded |= added.isAdded(ids[i]);
        }
        Tensor input = Tensors.fromLongs(longs, 1, ids.length); // [1, 77]
        return hasAdded ? textModel.encodeEmbeddings(added.lookup(textModel, input), clipSkip)
                : textModel.encode(input, clipSkip);
    }

    /**
     * The 77 ids the prompt gets in diffusers' way (no syntax, cut after 75 tokens), multi-vector
     * textual inversions expanded: {@code tokenizer.encodePadded(prompt)} when there are none.
     */
    int[] truncatedIds(String prompt) {
        return chunker.inputIds(chunker.chunk(List.of(new PromptFragment(prompt, 1.0)), 0).getFirst(), false);
    }

    /** Token embeddings [1, T, C] of ids, textual inversion rows included. */
    Tensor tokenEmbeddings(Tensor ids) {
        return added.lookup(textModel, ids);
    }

    /**
     * A1111's EmphasisOriginal.after_transformers: z * multipliers, then (ORIGINAL) rescaled so
     * the mean over the chunk equals the unweighted mean. An all-ones chunk is left as it is,
     * which is what the arithmetic gives too. z [1, 77, C].
     */
    private static Tensor applyWeights(Tensor z, float[] multipliers, Emphasis emphasis) {
        boolean allOnes = true;
        for (float m : multipliers) allOnes &= m == 1f;
        if (allOnes) return z;
        ScalarType dtype = Tensors.dtype(z);
        // float32 multipliers as A1111's torch.asarray makes them; z of lower precision promotes to float32.
        Tensor m = Tensors.fromFloats(multipliers, 1, multipliers.length, 1).to(z.device(), ScalarType.Float);
        Tensor originalMean = z.mean();
        Tensor weighted = z.mul(m);
        if (emphasis == Emphasis.ORIGINAL) weighted = weighted.mul(originalMean.div(weighted.mean()));
        return weighted.to(dtype);
    }
}
