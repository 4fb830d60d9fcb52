package jdiffusion.models.vae;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.Scopes;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/autoencoders/vae.py {@code Decoder}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/autoencoders/vae.py):
 * latents -> image, upscaled by 2^(blocks - 1). Up blocks run from the widest to block_out_channels[0],
 * with layers_per_block + 1 resnets each.
 */
public final class Decoder extends JavaModule {
    private final Conv2dImpl convIn;          // [C_last, latent, 3, 3]
    private final UNetMidBlock2D midBlock;
    private final List<UpDecoderBlock2D> upBlocks = new ArrayList<>();
    private final GroupNormImpl convNormOut;  // [C0]
    private final Conv2dImpl convOut;         // [out, C0, 3, 3]

    public Decoder(AutoencoderKLConfig config) {
        List<Integer> channels = config.blockOutChannels();
        int n = channels.size();
        int groups = config.normNumGroups();
        int out = channels.getLast();
        convIn = register_module("conv_in", Layers.conv2d(config.latentChannels(), out, 3, 1, 1));
        midBlock = register_module("mid_block", new UNetMidBlock2D(out, groups, config.midBlockAddAttention()));
        ModuleList list = register_module("up_blocks", new ModuleList());
        for (int i = 0; i < n; i++) {
            int in = out;
            out = channels.get(n - 1 - i);
            upBlocks.add(list.add(new UpDecoderBlock2D(in, out, config.layersPerBlock() + 1, groups, i < n - 1)));
        }
        convNormOut = register_module("conv_norm_out", Layers.groupNorm(groups, out, 1e-6));
        // conv_act is SiLU: no weights
        convOut = register_module("conv_out", Layers.conv2d(out, config.outChannels(), 3, 1, 1));
    }

    /** latents [B, latent, h, w] -> image [B, out, h*f, w*f]. */
    public Tensor forward(Tensor z) {
        // one layer's output alive at a time: at 512x512 the stages' outputs together are ~0.5 GB in
        // bf16; the up blocks' layers are chained here rather than block by block, so that a block's
        // input goes once its first resnet has run (at 512x512: 128 MB during the last block)
        List<UnaryOperator<Tensor>> stages = new ArrayList<>();
        stages.add(x -> midBlock.forward(convIn.forward(x)));
        for (UpDecoderBlock2D block : upBlocks) stages.addAll(block.stages());
        stages.add(x -> convOut.forward(Functional.siluOfTemporary(convNormOut.forward(x))));
        // between stages, once a stage's input is freed: what glibc keeps of it back to the OS (large decodes only)
        List<UnaryOperator<Tensor>> trimmed = new ArrayList<>();
        for (UnaryOperator<Tensor> stage : stages) {
            if (!trimmed.isEmpty()) trimmed.add(x -> { NativeMemory.trimBetweenBlocks(x); return x; });
            trimmed.add(stage);
        }
        return Scopes.sequence(z, trimmed);
    }
}
