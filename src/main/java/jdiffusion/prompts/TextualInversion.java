package jdiffusion.prompts;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import jdiffusion.JDiffusionException;
import jdiffusion.io.RestrictedUnpickler;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.TensorFiles;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * A textual inversion embedding: a token and the vectors it stands for in the text encoder's token
 * embedding table. Read from safetensors or PyTorch pickles in the formats of diffusers
 * (<a href="https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/loaders/textual_inversion.py">loaders/textual_inversion.py</a>)
 * and AUTOMATIC1111 (<a href="https://github.com/AUTOMATIC1111/stable-diffusion-webui/blob/master/modules/textual_inversion/textual_inversion.py">textual_inversion.py</a>):
 *
 * <ul>
 *   <li>sd-concepts-library / diffusers training: one tensor whose name is the token
 *       ({@code {"<cat-toy>": [768]}} or {@code [n, 768]}), {@code learned_embeds.safetensors} or
 *       {@code learned_embeds.bin};
 *   <li>A1111: {@code emb_params} [n, dim] in safetensors, {@code string_to_param['*']} in a {@code .pt};
 *       the token is the file name without its extension, as A1111 names it.
 * </ul>
 *
 * <p>An embedding of n vectors is used as the tokens {@code token}, {@code token_1}, ...,
 * {@code token_(n-1)} (diffusers' naming); writing {@code token} in a prompt inserts all n. The
 * vectors are kept on the Java heap as float32: they are small, and this way the object is
 * immutable, needs no closing and can be shared by concurrent requests.
 */
public final class TextualInversion {
    /** A1111 never places an embedding across two 75-token chunks, so more vectors cannot be used. */
    public static final int MAX_VECTORS = 75;

    private static final String A1111_KEY = "emb_params";
    /** A1111's .pt keeps its vectors in {'string_to_param': {'*': tensor}}, read as string_to_param.* (and so flattened to safetensors). */
    private static final String A1111_PICKLE_PREFIX = "string_to_param.";

    private final String token;
    private final int vectorCount;
    private final int dim;
    private final float[] vectors; // [vectorCount * dim], row-major
    private final String format;

    private TextualInversion(String token, int vectorCount, int dim, float[] vectors, String format) {
        if (token == null || token.isBlank()) throw new JDiffusionException("a textual inversion token must not be empty");
        if (vectorCount < 1 || vectorCount > MAX_VECTORS) {
            throw new JDiffusionException("the textual inversion " + token + " has " + vectorCount
                    + " vectors; 1.." + MAX_VECTORS + " fit in a prompt");
        }
        if (dim < 1 || vectors.length != (long) vectorCount * dim) {
            throw new IllegalArgumentException("vectors must hold vectorCount * dim floats");
        }
        this.token = token;
        this.vectorCount = vectorCount;
        this.dim = dim;
        this.vectors = vectors;
        this.format = format;
    }

    /** {@link #load(Path, String)} with the token the file names. */
    public static TextualInversion load(Path file) {
        return load(file, null);
    }

    /**
     * Reads an embedding from a safetensors file or a PyTorch pickle ({@code .bin}, {@code .pt},
     * read through {@link jdiffusion.io.RestrictedUnpickler}: tensors and plain containers only,
     * nothing in the file runs), or from a folder holding {@code learned_embeds.safetensors} or
     * {@code learned_embeds.bin} (an sd-concepts-library download). Both formats go through the
     * same layout rules; A1111's {@code .pt} ({@code {'string_to_param': {'*': tensor}, 'name': ..., 'step': ...}})
     * is read as its flattened name {@code string_to_param.*}, its other entries ignored.
     *
     * @param token the token to use instead of the one the file names (diffusers' {@code token=}); null keeps it
     * @throws JDiffusionException for a pickle that would run code, an SDXL embedding or an unknown
     *     layout, with what to do
     */
    public static TextualInversion load(Path file, String token) {
        Path path = Files.isDirectory(file) ? folderFile(file) : file;
        if (!Files.isRegularFile(path)) {
            throw new JDiffusionException("the textual inversion file " + path + " does not exist");
        }
        String name = path.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        StateDict tensors;
        try {
            tensors = TensorFiles.open(path);
        } catch (RestrictedUnpickler.RefusedException e) {
            throw new JDiffusionException(e.getMessage() + ". For an embedding: data = torch.load(file) in Python,"
                    + " then safetensors.torch.save_file({'<token>': tensor}) for a diffusers file, or"
                    + " save_file({'emb_params': data['string_to_param']['*']}) for an A1111 .pt", e);
        }
        try (tensors; PointerScope scope = new PointerScope()) {
            return read(tensors, path, stem, token);
        }
    }

    /** The layout rules, the same for every file format. */
    private static TextualInversion read(StateDict tensors, Path path, String stem, String token) {
        Set<String> names = tensors.keys();
        String key;
        String loadedToken;
        String format;
        List<String> terms = names.stream().filter(n -> n.startsWith(A1111_PICKLE_PREFIX)).toList();
        if (names.contains(A1111_KEY)) {
            key = A1111_KEY;
            loadedToken = stem;
            format = "AUTOMATIC1111 (" + key + ")";
        } else if (!terms.isEmpty()) {
            // A1111 takes the one entry of string_to_param, whatever its key ('*' in practice)
            if (terms.size() > 1) {
                throw new JDiffusionException(path + " holds " + terms.size() + " terms in string_to_param " + terms
                        + "; an AUTOMATIC1111 embedding holds one");
            }
            key = terms.getFirst();
            loadedToken = stem;
            format = "AUTOMATIC1111 (" + key + ")";
        } else if (names.contains("clip_l") || names.contains("clip_g")) {
            throw new JDiffusionException(path + " is an SDXL embedding (tensors clip_l/clip_g);"
                    + " SD 1.x/2.x text encoders take embeddings with a single vector table");
        } else if (names.size() == 1) {
            key = names.iterator().next();
            loadedToken = key;
            format = "diffusers (one tensor named by its token)";
        } else {
            throw new JDiffusionException(path + " holds the tensors " + names + "; a textual inversion file holds"
                    + " either one tensor named by its token (diffusers) or emb_params / string_to_param (AUTOMATIC1111)");
        }
        long[] shape = tensors.shape(key);
        if (shape.length == 1) shape = new long[] {1, shape[0]}; // diffusers saves one vector as [dim]
        if (shape.length != 2) {
            throw new JDiffusionException(path + ": the embedding '" + key + "' has shape " + Tensors.shapeString(shape)
                    + "; expected [vectors, dim] or [dim]");
        }
        return new TextualInversion(token != null ? token : loadedToken, Math.toIntExact(shape[0]),
                Math.toIntExact(shape[1]), Tensors.toFloats(tensors.view(key)), format);
    }

    /** An embedding made in memory: {@code vectors[i]} is the i-th vector, all of one length. */
    public static TextualInversion of(String token, float[]... vectors) {
        if (vectors.length == 0) throw new JDiffusionException("the textual inversion " + token + " has no vectors");
        int dim = vectors[0].length;
        float[] flat = new float[vectors.length * dim];
        for (int i = 0; i < vectors.length; i++) {
            if (vectors[i].length != dim) throw new IllegalArgumentException("all vectors must have " + dim + " values");
            System.arraycopy(vectors[i], 0, flat, i * dim, dim);
        }
        return new TextualInversion(token, vectors.length, dim, flat, "in memory");
    }

    private static Path folderFile(Path folder) {
        Path safe = folder.resolve("learned_embeds.safetensors");
        if (Files.isRegularFile(safe)) return safe;
        if (Files.isRegularFile(folder.resolve("learned_embeds.bin"))) return folder.resolve("learned_embeds.bin");
        throw new JDiffusionException(folder + " holds neither learned_embeds.safetensors nor learned_embeds.bin;"
                + " pass the embedding file itself");
    }

    /** The token that stands for the embedding in prompts. */
    public String token() {
        return token;
    }

    /** The tokens of the vectors: {@code token}, {@code token_1}, ... (diffusers' names for multi-vector embeddings). */
    public List<String> tokens() {
        List<String> tokens = new ArrayList<>(vectorCount);
        tokens.add(token);
        for (int i = 1; i < vectorCount; i++) tokens.add(token + "_" + i);
        return List.copyOf(tokens);
    }

    public int vectorCount() {
        return vectorCount;
    }

    /** The length of each vector: the text encoder's hidden size (768 for SD 1.x, 1024 for SD 2.x). */
    public int dim() {
        return dim;
    }

    /** A copy of vector i. */
    public float[] vector(int i) {
        float[] out = new float[dim];
        System.arraycopy(vectors, i * dim, out, 0, dim);
        return out;
    }

    /** The vectors as a new float32 CPU tensor [vectorCount, dim], owned by the caller's scope. */
    public Tensor vectors() {
        return Tensors.fromFloats(vectors, vectorCount, dim);
    }

    /** Which file layout it came from, for messages. */
    public String format() {
        return format;
    }

    @Override
    public String toString() {
        return "TextualInversion[" + token + ", " + vectorCount + " x " + dim + ", " + format + "]";
    }
}
