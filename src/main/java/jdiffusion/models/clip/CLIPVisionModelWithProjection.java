package jdiffusion.models.clip;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Conv2dOptions;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * transformers {@code CLIPVisionModelWithProjection}
 * (https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py):
 * ViT patch embedding with a class token and learned positions, pre-LayerNorm ({@code pre_layrnorm}, sic),
 * the encoder layers the text tower also uses (without the causal mask), post-LayerNorm of the class token,
 * and {@code visual_projection}. {@code image_embeds} = CLIPModel.get_image_features (not normalised).
 *
 * <pre>{@code
 * var clip = CLIPVisionModelWithProjection.load(Path.of("clip-vit-base-patch32"), ScalarType.Float, Tensors.CPU);
 * Tensor embeds = clip.forward(pixelValues).imageEmbeds(); // pixelValues from CLIPImageProcessor, [B, 3, 224, 224]
 * }</pre>
 */
public final class CLIPVisionModelWithProjection extends JavaModule {
    /** What the forward returns; {@code hiddenStates} = embeddings after pre_layrnorm, then each layer's output. */
    public record Output(Tensor imageEmbeds, Tensor poolerOutput, Tensor lastHiddenState, List<Tensor> hiddenStates) {}

    /** {@code vision_model}: the transformer without the projection. */
    private static final class VisionTransformer extends JavaModule {
        final Embeddings embeddings;
        final LayerNormImpl preLayrnorm;
        final CLIPEncoder encoder;
        final LayerNormImpl postLayernorm;

        VisionTransformer(CLIPVisionConfig config) {
            CLIPEncoderShape shape = config.encoderShape();
            embeddings = register_module("embeddings", new Embeddings(config));
            preLayrnorm = register_module("pre_layrnorm", CLIPEncoderLayer.layerNorm(shape));
            encoder = register_module("encoder", new CLIPEncoder(shape));
            postLayernorm = register_module("post_layernorm", CLIPEncoderLayer.layerNorm(shape));
        }
    }

    /** {@code CLIPVisionEmbeddings}: class token + patches, plus learned position embeddings. */
    private static final class Embeddings extends JavaModule {
        final Tensor classEmbedding;      // [C]
        final Conv2dImpl patchEmbedding;  // [C, 3, p, p], no bias
        final EmbeddingImpl positionEmbedding; // [patches + 1, C]

        Embeddings(CLIPVisionConfig config) {
            classEmbedding = register_parameter("class_embedding", torch.zeros(config.hiddenSize()));
            Conv2dOptions options = new Conv2dOptions(config.numChannels(), config.hiddenSize(),
                    new LongPointer(config.patchSize(), config.patchSize()));
            options.stride().put(0, config.patchSize()).put(1, config.patchSize());
            options.bias().put(false);
            patchEmbedding = register_module("patch_embedding", new Conv2dImpl(options));
            positionEmbedding = register_module("position_embedding", new EmbeddingImpl(config.numPositions(), config.hiddenSize()));
        }

        /** pixel values [B, 3, S, S] -> [B, patches + 1, C]. */
        Tensor forward(Tensor pixelValues) {
            long b = pixelValues.size(0);
            Tensor patches = patchEmbedding.forward(pixelValues).flatten(2, -1).transpose(1, 2); // [B, C, g, g] -> [B, g*g, C]
            Tensor cls = classEmbedding.view(1, 1, -1).expand(b, 1, -1);
            return torch.cat(new TensorVector(cls, patches), 1).add(positionEmbedding.weight().unsqueeze(0));
        }
    }

    private final CLIPVisionConfig config;
    private final VisionTransformer visionModel;
    private final LinearImpl visualProjection; // [projection_dim, C], no bias

    public CLIPVisionModelWithProjection(CLIPVisionConfig config) {
        ModelLoading.requireNoPointerScope("CLIPVisionModelWithProjection");
        this.config = config;
        visionModel = register_module("vision_model", new VisionTransformer(config));
        visualProjection = register_module("visual_projection", Layers.linear(config.hiddenSize(), config.projectionDim(), false));
    }

    /**
     * A CLIP folder ({@code config.json} + {@code model.safetensors} of a CLIPModel or CLIPVisionModel):
     * the image tower's weights are read, the text tower's ignored.
     */
    public static CLIPVisionModelWithProjection load(Path folder, ScalarType dtype, Device device) {
        CLIPVisionConfig config = CLIPVisionConfig.fromJson(folder.resolve("config.json"));
        List<Path> files = ModelFolder.weightFiles(folder, null);
        CLIPVisionModelWithProjection model = new CLIPVisionModelWithProjection(config);
        ModelLoading.loadWeights(model, files,
                k -> k.startsWith("vision_model.") || k.startsWith("visual_projection.") ? k : null, dtype, device,
                "CLIPVisionModelWithProjection");
        return model;
    }

    public CLIPVisionConfig config() {
        return config;
    }

    /** pixelValues [B, 3, image_size, image_size] (normalised as CLIPImageProcessor does) -> the outputs. */
    public Output forward(Tensor pixelValues) {
        if (pixelValues.dim() != 4 || pixelValues.size(1) != config.numChannels()
                || pixelValues.size(2) != config.imageSize() || pixelValues.size(3) != config.imageSize()) {
            throw new JDiffusionException("CLIP pixel values must be [B, " + config.numChannels() + ", " + config.imageSize()
                    + ", " + config.imageSize() + "], got " + Tensors.shapeString(pixelValues));
        }
        Tensor h = visionModel.preLayrnorm.forward(visionModel.embeddings.forward(pixelValues));
        List<Tensor> states = visionModel.encoder.forwardAll(h);
        Tensor last = states.getLast();
        Tensor pooled = visionModel.postLayernorm.forward(last.select(1, 0)); // the class token [B, C]
        return new Output(visualProjection.forward(pooled), pooled, last, states);
    }
}
