package jdiffusion.models.vae;

import jdiffusion.nn.Attention;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code UNetMidBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py)
 * as the VAE encoder and decoder use it: resnet, single-head self-attention over the pixels
 * (GroupNorm first, residual inside), resnet; no time embedding, eps 1e-6.
 */
public final class UNetMidBlock2D extends JavaModule {
    private final ResnetBlock2D resnet0;
    private final Attention attention; // null when mid_block_add_attention is false
    private final ResnetBlock2D resnet1;

    public UNetMidBlock2D(long channels, long groups, boolean addAttention) {
        ModuleList attentions = register_module("attentions", new ModuleList());
        ModuleList resnets = register_module("resnets", new ModuleList());
        resnet0 = resnets.add(new ResnetBlock2D(channels, channels, 0, groups, 1e-6, 1.0));
        // attention_head_dim = channels: one head as wide as the block
        attention = addAttention ? attentions.add(Attention.vaeMidBlock(channels, channels, groups, 1e-6, 1.0)) : null;
        resnet1 = resnets.add(new ResnetBlock2D(channels, channels, 0, groups, 1e-6, 1.0));
    }

    /** x [B, C, H, W] -> [B, C, H, W]. */
    public Tensor forward(Tensor x) {
        x = resnet0.forward(x, null);
        if (attention != null) x = attention.forward(x, null);
        return resnet1.forward(x, null);
    }
}
