package jdiffusion.prompts;

import java.util.Arrays;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The token embedding rows of added tokens (textual inversion), kept beside the text encoder
 * instead of in it: transformers' {@code resize_token_embeddings} grows the model's table, which
 * here would change a model that other requests share. Ids from {@code firstId} on come from this
 * table, lower ids from the model's. Immutable.
 */
final class AddedTokenEmbeddings {
    private final int firstId;
    private final int dim;
    private final float[] rows; // [count * dim], row i for id firstId + i

    AddedTokenEmbeddings(int firstId, int dim, float[] rows) {
        this.firstId = firstId;
        this.dim = dim;
        this.rows = rows;
    }

    /** No added tokens: every id comes from the model. */
    static AddedTokenEmbeddings none(int firstId, int dim) {
        return new AddedTokenEmbeddings(firstId, dim, new float[0]);
    }

    /** This table with the rows of {@code ti} appended (their ids follow the current ones). */
    AddedTokenEmbeddings with(TextualInversion ti) {
        float[] more = Arrays.copyOf(rows, rows.length + ti.vectorCount() * dim);
        for (int i = 0; i < ti.vectorCount(); i++) System.arraycopy(ti.vector(i), 0, more, rows.length + i * dim, dim);
        return new AddedTokenEmbeddings(firstId, dim, more);
    }

    /** The id the next added token gets. */
    int nextId() {
        return firstId + count();
    }

    int count() {
        return rows.length / dim;
    }

    boolean isAdded(int id) {
        return id >= firstId;
    }

    /**
     * The token embeddings of ids [B, T] int64: the model's rows, with the added tokens' rows in
     * place of theirs -> [B, T, C] in the model's dtype, on its device.
     */
    Tensor lookup(CLIPTextModel model, Tensor ids) {
        Tensor isAdded = ids.ge(new Scalar(firstId)); // [B, T] bool
        // Ids past the model's table are looked up as id 0 first, then replaced.
        Tensor base = model.tokenEmbeddings(ids.masked_fill(isAdded, new Scalar(0))); // [B, T, C]
        if (count() == 0) return base;
        Tensor table = Tensors.fromFloats(rows, count(), dim).to(base.device(), base.scalar_type()); // [N, C]
        Tensor index = ids.sub(new Scalar(firstId)).masked_fill(isAdded.logical_not(), new Scalar(0)); // [B, T]
        Tensor added = table.index_select(0, index.flatten().to(base.device(), ScalarType.Long)).view(Tensors.shape(base)); // [B, T, C]
        return added.where(isAdded.to(base.device(), ScalarType.Bool).unsqueeze(-1), base);
    }
}
