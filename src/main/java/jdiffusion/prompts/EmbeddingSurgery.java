package jdiffusion.prompts;

import java.util.Arrays;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Work on the text encoder's input embeddings, as in the "Stable Diffusion Deep Dive" lesson
 * (fast.ai part 2): look up a token's embedding, swap or blend it into a prompt's embeddings, run
 * the encoder on the result, and blend whole prompt embeddings.
 *
 * <p>"Token embeddings" here are {@code token_embedding(ids)} without the position embeddings
 * (transformers' {@code inputs_embeds}); {@link #encode} adds the positions. Textual inversion
 * tokens of the encoder are looked up too. All tensors belong to the caller's PointerScope.
 *
 * <pre>{@code
 * EmbeddingSurgery s = new EmbeddingSurgery(promptEncoder);
 * Tensor embeds = s.tokenEmbeddings("a photo of a puppy");                 // [1, 77, C]
 * embeds = EmbeddingSurgery.replace(embeds, s.position("a photo of a puppy", "puppy"), s.tokenEmbedding("skunk"));
 * Tensor conditioning = s.encode(embeds);                                  // [1, 77, C]: "a photo of a skunk"
 * }</pre>
 */
public final class EmbeddingSurgery {
    private final PromptEncoder encoder;

    public EmbeddingSurgery(PromptEncoder encoder) {
        this.encoder = encoder;
    }

    /**
     * The prompt's 77 ids as diffusers makes them: bos + at most 75 text tokens + eos + padding,
     * a multi-vector textual inversion token expanded to all its vectors' tokens.
     */
    public int[] inputIds(String prompt) {
        return encoder.truncatedIds(prompt);
    }

    /** The token embeddings of the prompt's 77 ids: [1, 77, C], no positions. */
    public Tensor tokenEmbeddings(String prompt) {
        int[] ids = inputIds(prompt);
        return encoder.tokenEmbeddings(Tensors.fromLongs(Arrays.stream(ids).asLongStream().toArray(), 1, ids.length));
    }

    /**
     * The embedding [C] of a word the tokenizer keeps as one token ("puppy", "skunk", a textual
     * inversion token).
     *
     * @throws JDiffusionException when the word is several tokens (the message lists them)
     */
    public Tensor tokenEmbedding(String word) {
        int id = tokenId(word);
        return encoder.tokenEmbeddings(Tensors.fromLongs(new long[] {id}, 1, 1)).view(-1);
    }

    /** The single token id of a word. */
    public int tokenId(String word) {
        CLIPTokenizer tokenizer = encoder.tokenizer();
        int[] ids = tokenizer.textIds(word);
        if (ids.length != 1) {
            throw new JDiffusionException("'" + word + "' is " + ids.length + " tokens " + tokenizer.tokens(word)
                    + ", not one; pick a word that is a single token");
        }
        return ids[0];
    }

    /** Where a one-token word first sits among the prompt's 77 ids (0 is bos). */
    public int position(String prompt, String word) {
        int id = tokenId(word);
        int[] ids = inputIds(prompt);
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == id) return i;
        }
        throw new JDiffusionException("'" + word + "' is not among the first 75 tokens of '" + prompt + "'");
    }

    /** The learned position embeddings [77, C] that {@link #encode} adds. */
    public Tensor positionEmbeddings() {
        return encoder.textModel().positionEmbeddings();
    }

    /** The text encoder on token embeddings [B, 77, C] -> last_hidden_state [B, 77, C]. */
    public Tensor encode(Tensor tokenEmbeddings) {
        return encode(tokenEmbeddings, 0);
    }

    /** As {@link #encode(Tensor)} with diffusers' clip skip (1 = penultimate layer). */
    public Tensor encode(Tensor tokenEmbeddings, int clipSkip) {
        return encoder.textModel().encodeEmbeddings(tokenEmbeddings, clipSkip);
    }

    /** A copy of embeddings [B, T, C] with row {@code position} of every sequence set to vector [C]. */
    public static Tensor replace(Tensor embeddings, int position, Tensor vector) {
        if (position < 0 || position >= embeddings.size(1)) {
            throw new JDiffusionException("position " + position + " is outside the sequence of "
                    + embeddings.size(1) + " tokens");
        }
        Tensor copy = embeddings.clone();
        copy.select(1, position).copy_(vector.to(copy.device(), copy.scalar_type()).expand_as(copy.select(1, position)));
        return copy;
    }

    /**
     * {@code a + weightOfB * (b - a)}: 0 gives a, 1 gives b, 0.5 the midpoint. For token embeddings
     * [C] (a new "word" between two) and whole prompt embeddings [B, T, C] alike; shapes must match.
     */
    public static Tensor mix(Tensor a, Tensor b, double weightOfB) {
        if (!Arrays.equals(Tensors.shape(a), Tensors.shape(b))) {
            throw new JDiffusionException("cannot mix embeddings of shapes " + Tensors.shapeString(a) + " and "
                    + Tensors.shapeString(b) + "; pad prompts to the same number of chunks first");
        }
        return torch.lerp(a, b.to(a.device(), a.scalar_type()), new Scalar(weightOfB));
    }
}
