package jdiffusion.models.clip;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.Layers;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * transformers {@code CLIPTextModelWithProjection} / {@code CLIPModel.get_text_features}
 * (https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py):
 * the text tower's pooled output through {@code text_projection} (no bias), the embedding CLIP compares
 * with image embeddings. Loaded from a CLIPModel folder; the image tower's weights are ignored.
 *
 * <pre>{@code
 * var text = CLIPTextModelWithProjection.load(Path.of("clip-vit-base-patch32"));
 * Tensor embeds = text.textEmbeds(inputIds); // [B, 77] -> [B, projection_dim]
 * }</pre>
 */
public final class CLIPTextModelWithProjection implements AutoCloseable {
    private final CLIPTextModel textModel;
    private final LinearImpl textProjection; // [projection_dim, hidden], no bias

    private CLIPTextModelWithProjection(CLIPTextModel textModel, LinearImpl textProjection) {
        this.textModel = textModel;
        this.textProjection = textProjection;
    }

    /** The text side of a CLIPModel folder ({@code config.json} with text_config, {@code model.safetensors}), float32 on the CPU. */
    public static CLIPTextModelWithProjection load(Path folder) {
        CLIPTextConfig config = CLIPTextConfig.fromCLIPModelJson(folder.resolve("config.json"));
        List<Path> files = ModelFolder.weightFiles(folder, null);
        CLIPTextModel text = new CLIPTextModel(config);
        ModelLoading.loadWeights(text, files,
                k -> k.startsWith("text_model.") && !k.equals("text_model.embeddings.position_ids") ? k : null,
                ScalarType.Float, Tensors.CPU, "CLIP text model");
        LinearImpl projection = Layers.linear(config.hiddenSize(), config.projectionDim(), false);
        ModelLoading.loadWeights(projection, files, k -> k.equals("text_projection.weight") ? "weight" : null,
                ScalarType.Float, Tensors.CPU, "CLIP text_projection");
        return new CLIPTextModelWithProjection(text, projection);
    }

    public CLIPTextModel textModel() {
        return textModel;
    }

    /** input ids [B, T] -> text_embeds [B, projection_dim] (not normalised). */
    public Tensor textEmbeds(Tensor inputIds) {
        return textProjection.forward(textModel.forward(inputIds).pooledOutput());
    }

    @Override
    public void close() {
        textModel.close();
        textProjection.close();
    }
}
