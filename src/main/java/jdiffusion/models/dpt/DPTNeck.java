package jdiffusion.models.dpt;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Conv2dOptions;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * transformers' {@code DPTNeck} for DPT-Hybrid: the reassemble stage (the two BiT maps pass unchanged;
 * each ViT layer's tokens become an image again after the class token is concatenated to every token
 * and projected back, {@code readout_type} "project", then a 1x1 projection and a resize), one 3x3
 * conv per stage to {@code fusion_hidden_size}, and the fusion stage from the coarsest map up.
 */
final class DPTNeck extends JavaModule {
    private final List<LinearImpl> readoutProjects = new ArrayList<>(); // [hidden, 2*hidden] per ViT stage (null for BiT)
    private final List<Conv2dImpl> reassembleProjections = new ArrayList<>(); // [C_i, hidden, 1, 1]
    private final List<Conv2dImpl> reassembleResizes = new ArrayList<>();     // 3x3 stride 2 for factor 0.5, else null
    private final List<Conv2dImpl> convs = new ArrayList<>();                 // [F, C_i, 3, 3], no bias
    private final List<DPTFeatureFusionLayer> fusion = new ArrayList<>();

    DPTNeck(DPTConfig config) {
        int hidden = config.hiddenSize();
        JavaModule reassemble = register_module("reassemble_stage", new JavaModule() {});
        ModuleList layers = reassemble.register_module("layers", new ModuleList());
        ModuleList readouts = reassemble.register_module("readout_projects", new ModuleList());
        for (int i = 0; i < 4; i++) {
            if (config.neckIgnoreStages().contains(i)) {
                // nn.Identity() and nn.Sequential(nn.Identity()) in transformers: no weights
                readoutProjects.add(null);
                reassembleProjections.add(null);
                reassembleResizes.add(null);
                continue;
            }
            int channels = config.neckHiddenSizes().get(i);
            // readout_projects.i is Sequential(Linear, GELU): the Linear is ".0"
            readoutProjects.add(readouts.put(i, new JavaModule() {}).register_module("0", Layers.linear(2L * hidden, hidden, true)));
            JavaModule layer = layers.put(i, new JavaModule() {});
            reassembleProjections.add(layer.register_module("projection", Layers.conv2d(hidden, channels, 1, 1, 0)));
            reassembleResizes.add(config.reassembleFactors().get(i) < 1
                    ? layer.register_module("resize", Layers.conv2d(channels, channels, 3, 2, 1)) : null);
        }
        ModuleList convList = register_module("convs", new ModuleList());
        for (int channels : config.neckHiddenSizes()) {
            convs.add(convList.add(conv(channels, config.fusionHiddenSize(), 3, 1, 1, false)));
        }
        ModuleList fusionList = register_module("fusion_stage", new JavaModule() {}).register_module("layers", new ModuleList());
        for (int i = 0; i < 4; i++) fusion.add(fusionList.add(new DPTFeatureFusionLayer(config)));
    }

    /** {@code nn.Conv2d(in, out, k, stride, padding, bias=bias)}. */
    static Conv2dImpl conv(long in, long out, long kernel, long stride, long padding, boolean bias) {
        if (bias) return Layers.conv2d(in, out, kernel, stride, padding);
        Conv2dOptions options = new Conv2dOptions(in, out, new LongPointer(kernel, kernel));
        options.stride().put(0, stride).put(1, stride);
        options.padding().put(new LongPointer(padding, padding));
        options.bias().put(false);
        return new Conv2dImpl(options);
    }

    /**
     * @param features BiT stages 1 and 2 ([B, C, h, w]) then two ViT hidden states [B, 1 + n*n, hidden]
     * @return the fused maps, coarsest first; the last is the finest, [B, F, 2h1, 2w1]
     */
    List<Tensor> forward(List<Tensor> features) {
        List<Tensor> maps = new ArrayList<>();
        for (int i = 0; i < features.size(); i++) {
            Tensor x = features.get(i);
            if (readoutProjects.get(i) != null) x = reassemble(i, x);
            maps.add(convs.get(i).forward(x));
        }
        List<Tensor> fused = new ArrayList<>();
        Tensor hidden = null;
        for (int i = 0; i < maps.size(); i++) {
            Tensor map = maps.get(maps.size() - 1 - i); // coarsest first
            hidden = hidden == null ? fusion.get(i).forward(map, null) : fusion.get(i).forward(hidden, map);
            fused.add(hidden);
        }
        return fused;
    }

    /** tokens [B, 1 + n*n, hidden] -> [B, C_i, n', n']. */
    private Tensor reassemble(int i, Tensor tokens) {
        long b = tokens.size(0), hidden = tokens.size(2);
        long n = (long) Math.sqrt(tokens.size(1) - 1);
        Tensor cls = tokens.select(1, 0);                                           // [B, hidden]
        Tensor patches = tokens.narrow(1, 1, n * n);                                // [B, n*n, hidden]
        Tensor readout = cls.unsqueeze(1).expand_as(patches);
        Tensor projected = Functional.gelu(readoutProjects.get(i).forward(torch.cat(new TensorVector(patches, readout), -1)));
        Tensor image = projected.permute(0, 2, 1).reshape(b, hidden, n, n);         // [B, hidden, n, n]
        image = reassembleProjections.get(i).forward(image);
        return reassembleResizes.get(i) == null ? image : reassembleResizes.get(i).forward(image);
    }
}
