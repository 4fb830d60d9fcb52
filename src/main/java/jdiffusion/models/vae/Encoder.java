package jdiffusion.models.vae;

import java.util.ArrayList;
import java.util.List;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/autoencoders/vae.py {@code Encoder}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/vae.py)
 * with double_z: image -> 2 x latent_channels moments (mean and log-variance), downscaled by
 * 2^(blocks - 1).
 */
public final class Encoder extends JavaModule {
    private final Conv2dImpl convIn;          // [C0, in, 3, 3]
    private final List<DownEncoderBlock2D> downBlocks = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final GroupNormImpl convNormOut;  // [C_last]
    private final Conv2dImpl convOut;         // [2*latent, C_last, 3, 3]

    public Encoder(AutoencoderKLConfig config) {
        List<Integer> channels = config.blockOutChannels();
        int groups = config.normNumGroups();
        convIn = register_module("conv_in", Layers.conv2d(config.inChannels(), channels.getFirst(), 3, 1, 1));
        ModuleList list = register_module("down_blocks", new ModuleList());
        int out = channels.getFirst();
        for (int i = 0; i < channels.size(); i++) {
            int in = out;
            out = channels.get(i);
            downBlocks.add(list.add(new DownEncoderBlock2D(in, out, config.layersPerBlock(), groups, i < channels.size() - 1)));
        }
        midBlock = register_module("mid_block", new UNetMidBlock2D(out, groups, config.midBlockAddAttention()));
        convNormOut = register_module("conv_norm_out", Layers.groupNorm(groups, out, 1e-6));
        // conv_act is SiLU: no weights
        convOut = register_module("conv_out", Layers.conv2d(out, 2L * config.latentChannels(), 3, 1, 1));
    }

    /** conv_in's weight, whose device and dtype are the model's. */
    Tensor convInWeight() {
        return convIn.weight();
    }

    /** image [B, in, H, W] -> moments [B, 2*latent, H/f, W/f]. */
    public Tensor forward(Tensor x) {
        x = convIn.forward(x);
        for (DownEncoderBlock2D block : downBlocks) x = block.forward(x);
        x = midBlock.forward(x);
        return convOut.forward(Functional.siluOfTemporary(convNormOut.forward(x)));
    }
}
