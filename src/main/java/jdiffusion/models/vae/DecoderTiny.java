package jdiffusion.models.vae;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * diffusers models/autoencoders/vae.py {@code DecoderTiny}: latents are soft-clamped to (-3, 3)
 * ({@code tanh(x / 3) * 3}), then one {@code nn.Sequential} named {@code layers}: a 3x3 conv and
 * ReLU, then per block {@code num_decoder_blocks[i]} {@link AutoencoderTinyBlock}s, a nearest
 * upsample (all but the last block) and a 3x3 conv (no bias, except the last, which gives the
 * image). TAESD draws in [0, 1]; the output is mapped to diffusers' [-1, 1].
 */
public final class DecoderTiny extends JavaModule {
    private final List<UnaryOperator<Tensor>> layers = new ArrayList<>(); // the Sequential, in order

    public DecoderTiny(AutoencoderTinyConfig config) {
        ModuleList seq = register_module("layers", new ModuleList());
        List<Integer> widths = config.decoderBlockOutChannels();
        var convIn = seq.put(0, Layers.conv2d(config.latentChannels(), widths.getFirst(), 3, 1, 1)); // [c, latent, 3, 3]
        layers.add(x -> torch.relu(convIn.forward(x))); // layers.1 is the ReLU: no weights
        int index = 2;
        long factor = config.upsamplingScalingFactor();
        for (int i = 0; i < widths.size(); i++) {
            boolean last = i == widths.size() - 1;
            int c = widths.get(i);
            for (int j = 0; j < config.numDecoderBlocks().get(i); j++) {
                AutoencoderTinyBlock block = seq.put(index++, new AutoencoderTinyBlock(c, c));
                layers.add(block::forward);
            }
            if (!last) {
                index++; // nn.Upsample: no weights
                layers.add(x -> Functional.upsampleNearest(x, x.size(2) * factor, x.size(3) * factor));
            }
            var conv = seq.put(index++, Layers.conv2d(c, last ? config.outChannels() : c, 3, 1, 1, last)); // [c or out, c, 3, 3]
            layers.add(conv::forward);
        }
    }

    /** latents [B, latent, h, w] -> image [B, out, h*f, w*f], roughly in [-1, 1]. */
    public Tensor forward(Tensor z) {
        Tensor x = torch.tanh(z.div(new Scalar(3.0))).mul(new Scalar(3.0)); // "Clamp."
        Tensor image = Scopes.sequence(x, layers);
        return image.mul(new Scalar(2.0)).sub(new Scalar(1.0)); // [0, 1] -> [-1, 1]
    }
}
