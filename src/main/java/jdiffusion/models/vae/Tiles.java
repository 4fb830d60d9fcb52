package jdiffusion.models.vae;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The tiling of diffusers' {@code AutoencoderKL.tiled_decode} / {@code tiled_encode}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/autoencoder_kl.py),
 * written once for both directions: cut the input into {@code tile}-sized squares every
 * {@code stride} pixels, map each one alone, blend every tile's first {@code blend} rows and
 * columns linearly into its upper and left neighbours', keep its first {@code keep} rows and
 * columns, and concatenate.
 *
 * <p>The order of the blends is diffusers' own, in place: a tile is blended with its upper
 * neighbour as that neighbour was after its own blends, then with its left neighbour likewise. Given
 * the same tile outputs the result is diffusers' bit for bit.
 */
final class Tiles {
    private Tiles() {}

    /**
     * @param x      [B, C, H, W]
     * @param map    one tile in, its image out (a fresh tensor, scaled by the VAE's factor)
     * @param tile   input tile side
     * @param stride input step between tiles (diffusers' overlap_size)
     * @param blend  output rows/columns blended with the neighbour (diffusers' blend_extent)
     * @param keep   output rows/columns kept of each tile (diffusers' row_limit)
     */
    static Tensor tiled(Tensor x, UnaryOperator<Tensor> map, long tile, long stride, long blend, long keep) {
        long height = x.size(2);
        long width = x.size(3);
        PointerScope outer = PointerScope.getInnerScope();
        try (PointerScope work = new PointerScope()) {
            // 1. each tile alone; its temporaries freed before the next one starts
            List<List<Tensor>> rows = new ArrayList<>();
            for (long i = 0; i < height; i += stride) {
                List<Tensor> row = new ArrayList<>();
                for (long j = 0; j < width; j += stride) {
                    try (PointerScope one = new PointerScope()) {
                        Tensor in = x.narrow(2, i, Math.min(tile, height - i)).narrow(3, j, Math.min(tile, width - j));
                        Tensor out = map.apply(in).contiguous();
                        work.attach(out);
                        row.add(out);
                    }
                }
                rows.add(row);
            }
            // 2. blend with the upper and the left neighbour, crop, concatenate
            TensorVector resultRows = new TensorVector();
            for (int i = 0; i < rows.size(); i++) {
                List<Tensor> row = rows.get(i);
                TensorVector resultRow = new TensorVector();
                for (int j = 0; j < row.size(); j++) {
                    Tensor t = row.get(j);
                    if (i > 0) blend(rows.get(i - 1).get(j), t, blend, 2);
                    if (j > 0) blend(row.get(j - 1), t, blend, 3);
                    resultRow.push_back(t.narrow(2, 0, Math.min(keep, t.size(2))).narrow(3, 0, Math.min(keep, t.size(3))));
                }
                resultRows.push_back(torch.cat(resultRow, 3));
            }
            Tensor result = torch.cat(resultRows, 2);
            if (outer != null) outer.attach(result);
            else result.retainReference();
            return result;
        }
    }

    /**
     * diffusers' blend_v (dim 2) / blend_h (dim 3), in place on {@code b}: its first e lines become
     * {@code a's last e lines · (1 - y/e) + b's · y/e}, y = 0..e-1, e = min(both sizes, extent).
     * The weights are rounded to float32 once, as torch rounds a Python-float factor.
     */
    static void blend(Tensor a, Tensor b, long extent, int dim) {
        long e = Math.min(Math.min(a.size(dim), b.size(dim)), extent);
        if (e <= 0) return;
        float[] keepB = new float[(int) e];
        float[] keepA = new float[(int) e];
        for (int y = 0; y < e; y++) {
            keepB[y] = (float) ((double) y / e);
            keepA[y] = (float) (1 - (double) y / e);
        }
        long[] shape = dim == 2 ? new long[] {1, 1, e, 1} : new long[] {1, 1, 1, e};
        // float32 weights: a half-precision tile is promoted, blended in float32 and rounded once
        Tensor wa = Tensors.fromFloats(keepA, shape).to(b.device(), ScalarType.Float);
        Tensor wb = Tensors.fromFloats(keepB, shape).to(b.device(), ScalarType.Float);
        Tensor head = b.narrow(dim, 0, e);
        Tensor tail = a.narrow(dim, a.size(dim) - e, e);
        head.copy_(tail.mul(wa).add(head.mul(wb)));
    }
}
