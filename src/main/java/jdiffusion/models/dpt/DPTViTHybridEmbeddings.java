package jdiffusion.models.dpt;

import java.util.List;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' {@code DPTViTHybridEmbeddings}: the BiT backbone's last feature map, 1x1-projected to
 * ViT tokens, after a class token, plus position embeddings (bilinearly resized when the token grid
 * differs from the configured image's, {@code _resize_pos_embed}).
 */
final class DPTViTHybridEmbeddings extends JavaModule {
    /** The tokens and the BiT feature maps (the neck reads the first two unchanged). */
    record Output(Tensor embeddings, List<Tensor> backboneFeatures) {}

    private final BitBackbone backbone;
    private final Conv2dImpl projection;     // [hidden, C3, 1, 1]
    private final Tensor clsToken;           // [1, 1, hidden]
    private final Tensor positionEmbeddings; // [1, 1 + patches, hidden]
    private final int patchSize;

    DPTViTHybridEmbeddings(DPTConfig config) {
        BitConfig bit = config.backboneConfig();
        backbone = register_module("backbone", new BitBackbone(bit));
        int featureDim = config.backboneFeatmapShape().get(1);
        projection = register_module("projection", Layers.conv2d(featureDim, config.hiddenSize(), 1, 1, 0));
        // register_parameter returns a reference into the module's parameter list, which the next
        // registration may move: keep our own handle on the same tensor
        clsToken = new Tensor(register_parameter("cls_token", torch.zeros(1, 1, config.hiddenSize()), true));
        int patches = (config.imageSize() / config.patchSize()) * (config.imageSize() / config.patchSize());
        positionEmbeddings = new Tensor(register_parameter("position_embeddings", torch.zeros(1, patches + 1, config.hiddenSize()), true));
        patchSize = config.patchSize();
    }

    /** pixel_values [B, 3, H, W] -> tokens [B, 1 + (H/16)(W/16), hidden] and BiT stages 1, 2, 3. */
    Output forward(Tensor pixels) {
        long batch = pixels.size(0);
        Tensor position = resizedPositions(pixels.size(2) / patchSize, pixels.size(3) / patchSize);
        List<Tensor> features = backbone.forward(pixels);
        Tensor projected = projection.forward(features.getLast());                   // [B, hidden, h, w]
        Tensor tokens = projected.reshape(batch, projected.size(1), -1).transpose(1, 2); // [B, h*w, hidden]
        Tensor cls = clsToken.expand(batch, -1, -1);
        Tensor embeddings = torch.cat(new TensorVector(cls, tokens), 1).add(position);
        return new Output(embeddings, features);
    }

    private Tensor resizedPositions(long gridHeight, long gridWidth) {
        long old = (long) Math.sqrt(positionEmbeddings.size(1) - 1);
        if (old == gridHeight && old == gridWidth) return positionEmbeddings; // interpolate to the same size is the identity
        Tensor tok = positionEmbeddings.narrow(1, 0, 1);
        Tensor grid = positionEmbeddings.select(0, 0).narrow(0, 1, old * old)
                .reshape(1, old, old, -1).permute(0, 3, 1, 2);                       // [1, hidden, old, old]
        grid = torch.upsample_bilinear2d(grid, new long[] {gridHeight, gridWidth}, false);
        grid = grid.permute(0, 2, 3, 1).reshape(1, gridHeight * gridWidth, -1);
        return torch.cat(new TensorVector(tok, grid), 1);
    }
}
