package jdiffusion.models.dpt;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import org.bytedeco.pytorch.Tensor;

/**
 * transformers' {@code BitBackbone} (its {@code bit} = {@code BitModel}: {@code embedder} and
 * {@code encoder.stages.N.layers.M}): the stem, then stages of bottleneck layers, the first stage at
 * stride 1 and every later one at stride 2. Returns the feature maps of {@code out_features}.
 */
final class BitBackbone extends JavaModule {
    private final BitEmbeddings embedder;
    private final List<List<BitBottleneckLayer>> stages = new ArrayList<>();
    private final BitConfig config;

    BitBackbone(BitConfig config) {
        this.config = config;
        JavaModule bit = register_module("bit", new JavaModule() {});
        embedder = bit.register_module("embedder", new BitEmbeddings(config));
        JavaModule encoder = bit.register_module("encoder", new JavaModule() {});
        ModuleList stageList = encoder.register_module("stages", new ModuleList());
        int in = config.embeddingSize();
        int currentStride = 4; // the stem's
        for (int s = 0; s < config.depths().size(); s++) {
            int out = config.stageChannels(s);
            int stride = s == 0 ? 1 : 2;
            if (currentStride >= config.outputStride()) {
                throw new JDiffusionException("BitConfig: output_stride " + config.outputStride()
                        + " would make stage " + s + " dilated; dilated BiT stages are not built");
            }
            JavaModule stage = stageList.add(new JavaModule() {});
            ModuleList layerList = stage.register_module("layers", new ModuleList());
            List<BitBottleneckLayer> layers = new ArrayList<>();
            for (int l = 0; l < config.depths().get(s); l++) {
                layers.add(layerList.add(new BitBottleneckLayer(config, l == 0 ? in : out, out, l == 0 ? stride : 1, l == 0)));
            }
            stages.add(layers);
            in = out;
            currentStride *= stride;
        }
    }

    /** pixel_values [B, 3, H, W] -> the out_features maps, e.g. [B, C1, H/4, W/4], [B, C2, H/8, W/8], [B, C3, H/16, W/16]. */
    List<Tensor> forward(Tensor pixels) {
        List<Tensor> stageOutputs = new ArrayList<>();
        Tensor x = embedder.forward(pixels);
        for (List<BitBottleneckLayer> stage : stages) {
            for (BitBottleneckLayer layer : stage) x = layer.forward(x);
            stageOutputs.add(x);
        }
        List<Tensor> out = new ArrayList<>();
        for (String feature : config.outFeatures()) out.add(stageOutputs.get(config.stageIndex(feature)));
        return out;
    }
}
