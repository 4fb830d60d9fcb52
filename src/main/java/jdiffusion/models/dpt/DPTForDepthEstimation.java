package jdiffusion.models.dpt;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import jdiffusion.weights.KeyMap;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.LayerNormImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * transformers models/dpt/modeling_dpt.py {@code DPTForDepthEstimation}
 * (https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/dpt/modeling_dpt.py)
 * in its hybrid form, the depth estimator of stabilityai/stable-diffusion-2-depth
 * ({@code Intel/dpt-hybrid-midas}): BiT stem and stages, a ViT over the last stage's map, DPT's neck
 * and a three-convolution head. Registered names are transformers' ({@code dpt.embeddings.backbone.bit...},
 * {@code dpt.encoder.layer.N...}, {@code neck...}, {@code head.head.N}).
 *
 * <pre>{@code
 * DPTForDepthEstimation dpt = DPTForDepthEstimation.load(folder.resolve("depth_estimator"), ScalarType.Float, Tensors.CPU);
 * Tensor depth = dpt.forward(DPTImageProcessor.fromJson(...).preprocess(images)).predictedDepth(); // [B, H, W]
 * }</pre>
 */
public final class DPTForDepthEstimation extends JavaModule {
    private final DPTConfig config;
    private final DPTViTHybridEmbeddings embeddings;
    private final List<DPTViTLayer> layers = new ArrayList<>();
    private final DPTNeck neck;
    private final Conv2dImpl head0;  // [F/2, F, 3, 3]
    private final Conv2dImpl head2;  // [32, F/2, 3, 3]
    private final Conv2dImpl head4;  // [1, 32, 1, 1]

    public DPTForDepthEstimation(DPTConfig config) {
        ModelLoading.requireNoPointerScope("DPTForDepthEstimation");
        this.config = config;
        JavaModule dpt = register_module("dpt", new JavaModule() {});
        embeddings = dpt.register_module("embeddings", new DPTViTHybridEmbeddings(config));
        ModuleList layerList = dpt.register_module("encoder", new JavaModule() {}).register_module("layer", new ModuleList());
        for (int i = 0; i < config.numHiddenLayers(); i++) layers.add(layerList.add(new DPTViTLayer(config)));
        // dpt.layernorm normalises the last hidden state, which the depth head never reads; it is loaded all the same
        LayerNormImpl unused = dpt.register_module("layernorm", Layers.layerNorm(config.hiddenSize(), config.layerNormEps()));
        neck = register_module("neck", new DPTNeck(config));
        int f = config.fusionHiddenSize();
        // head.head is Sequential(conv, Upsample, conv, ReLU, conv, ReLU): weights at 0, 2 and 4
        ModuleList head = register_module("head", new JavaModule() {}).register_module("head", new ModuleList());
        head0 = head.put(0, Layers.conv2d(f, f / 2, 3, 1, 1));
        head2 = head.put(2, Layers.conv2d(f / 2, 32, 3, 1, 1));
        head4 = head.put(4, Layers.conv2d(32, 1, 1, 1, 0));
    }

    /** Reads {@code folder/config.json} and {@code model.safetensors} (transformers' layout). */
    public static DPTForDepthEstimation load(Path folder, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "DPTForDepthEstimation");
        DPTForDepthEstimation model = new DPTForDepthEstimation(DPTConfig.fromJson(folder.resolve("config.json")));
        ModelLoading.loadWeights(model, ModelFolder.weightFiles(folder, null), KeyMap.identity(), dtype, device,
                "DPTForDepthEstimation");
        return model;
    }

    public DPTConfig config() {
        return config;
    }

    /** pixel_values [B, 3, H, W] (see {@link DPTImageProcessor}) -> depth [B, H, W] and the intermediate states. */
    public DepthEstimatorOutput forward(Tensor pixels) {
        Tensor weight = head4.weight();
        pixels = pixels.to(weight.device(), weight.scalar_type());
        // 1. BiT + ViT: every hidden state kept (embeddings first)
        DPTViTHybridEmbeddings.Output embedded = embeddings.forward(pixels);
        List<Tensor> hidden = new ArrayList<>();
        hidden.add(embedded.embeddings());
        for (DPTViTLayer layer : layers) hidden.add(layer.forward(hidden.getLast()));
        // 2. the neck's inputs: BiT stages 1 and 2, then the ViT layers of backbone_out_indices[2:]
        List<Tensor> features = new ArrayList<>(embedded.backboneFeatures().subList(0, 2));
        for (int index : config.backboneOutIndices().subList(2, 4)) features.add(hidden.get(index + 1));
        // 3. neck and head on the finest fused map
        Tensor x = neck.forward(features).getLast();
        x = head0.forward(x);
        x = torch.upsample_bilinear2d(x, new long[] {x.size(2) * 2, x.size(3) * 2}, true);
        x = torch.relu(head2.forward(x));
        Tensor depth = torch.relu(head4.forward(x)).squeeze(1);
        List<Tensor> backbone = new ArrayList<>(embedded.backboneFeatures());
        return new DepthEstimatorOutput(depth, backbone, hidden);
    }
}
