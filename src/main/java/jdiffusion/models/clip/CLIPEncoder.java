package jdiffusion.models.clip;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import org.bytedeco.pytorch.Tensor;

/**
 * transformers {@code CLIPEncoder}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py">modeling_clip.py</a>):
 * {@code num_hidden_layers} {@link CLIPEncoderLayer}s in a ModuleList named {@code layers}.
 */
final class CLIPEncoder extends JavaModule {
    /** The ModuleList itself holds no weights; it only puts "layers.i." in front of the keys. */
    private final ModuleList layersList;
    final List<CLIPEncoderLayer> layers;

    CLIPEncoder(CLIPEncoderShape config) {
        this.layersList = register_module("layers", new ModuleList());
        List<CLIPEncoderLayer> list = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            list.add(layersList.register_module(Integer.toString(i), new CLIPEncoderLayer(config)));
        }
        this.layers = List.copyOf(list);
    }

    /** Runs the first {@code count} layers: [B, T, C] -> [B, T, C]. */
    Tensor forward(Tensor inputsEmbeds, int count) {
        Tensor h = inputsEmbeds;
        for (int i = 0; i < count; i++) h = layers.get(i).forward(h);
        return h;
    }

    /**
     * Runs every layer and returns transformers' {@code hidden_states}: the input, then the output of
     * each layer ({@code num_hidden_layers + 1} tensors of [B, T, C]).
     */
    List<Tensor> forwardAll(Tensor inputsEmbeds) {
        List<Tensor> states = new ArrayList<>(layers.size() + 1);
        Tensor h = inputsEmbeds;
        states.add(h);
        for (CLIPEncoderLayer layer : layers) {
            h = layer.forward(h);
            states.add(h);
        }
        return states;
    }
}
