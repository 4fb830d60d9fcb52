package jdiffusion.models.vae;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/autoencoders/vae.py {@code EncoderTiny}: one {@code nn.Sequential} named
 * {@code layers}. Per block: a 3x3 conv (the first from the image, the others stride 2 without
 * bias), then {@code num_encoder_blocks[i]} {@link AutoencoderTinyBlock}s; a last 3x3 conv to the
 * latent channels. Images come in [-1, 1] and are mapped to TAESD's [0, 1] first.
 */
public final class EncoderTiny extends JavaModule {
    private final List<UnaryOperator<Tensor>> layers = new ArrayList<>(); // the Sequential, in order

    public EncoderTiny(AutoencoderTinyConfig config) {
        ModuleList seq = register_module("layers", new ModuleList());
        int index = 0;
        List<Integer> widths = config.encoderBlockOutChannels();
        for (int i = 0; i < widths.size(); i++) {
            int c = widths.get(i);
            var conv = seq.put(index++, i == 0 ? Layers.conv2d(config.inChannels(), c, 3, 1, 1)
                    : Layers.conv2d(c, c, 3, 2, 1, false));                  // [c, in or c, 3, 3]
            layers.add(conv::forward);
            for (int j = 0; j < config.numEncoderBlocks().get(i); j++) {
                AutoencoderTinyBlock block = seq.put(index++, new AutoencoderTinyBlock(c, c));
                layers.add(block::forward);
            }
        }
        var out = seq.put(index, Layers.conv2d(widths.getLast(), config.latentChannels(), 3, 1, 1)); // [latent, c, 3, 3]
        layers.add(out::forward);
    }

    /** image [B, in, H, W] in [-1, 1] -> latents [B, latent, H/f, W/f]. */
    public Tensor forward(Tensor image) {
        Tensor x = image.add(new Scalar(1.0)).div(new Scalar(2.0)); // [-1, 1] -> [0, 1]: TAESD's convention
        return Scopes.sequence(x, layers);
    }
}
