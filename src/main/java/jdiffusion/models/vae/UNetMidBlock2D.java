package jdiffusion.models.vae;

import jdiffusion.nn.Attention;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.ResnetBlock2D;
import org.bytedeco.pytorch.Tensor;

/**
 * diffusers models/unets/unet_2d_blocks.py {@code UNetMidBlock2D}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_blocks.py):
 * resnet, self-attention over the pixels (GroupNorm first, residual inside), resnet. The VAE
 * encoder and decoder use it without a time embedding (one head as wide as the block, eps 1e-6);
 * the pixel-space {@code UNet2DModel} with one, its own eps, head size and output scale factor.
 */
public final class UNetMidBlock2D extends JavaModule {
    private final ResnetBlock2D resnet0;
    private final Attention attention; // null when mid_block_add_attention / add_attention is false
    private final ResnetBlock2D resnet1;

    /** The VAE's mid block: no time embedding, attention_head_dim = channels (one head), eps 1e-6. */
    public UNetMidBlock2D(long channels, long groups, boolean addAttention) {
        this(channels, 0, groups, groups, 1e-6, channels, 1.0, addAttention);
    }

    /**
     * {@code UNetMidBlock2D(in_channels, temb_channels, resnet_groups, attn_groups, resnet_eps,
     * attention_head_dim, output_scale_factor, add_attention)}; {@code tembChannels} 0 = none.
     */
    public UNetMidBlock2D(long channels, long tembChannels, long groups, long attnGroups, double eps, long headDim,
                          double outputScaleFactor, boolean addAttention) {
        ModuleList attentions = register_module("attentions", new ModuleList());
        ModuleList resnets = register_module("resnets", new ModuleList());
        resnet0 = resnets.add(new ResnetBlock2D(channels, channels, tembChannels, groups, eps, outputScaleFactor));
        attention = addAttention
                ? attentions.add(Attention.vaeMidBlock(channels, headDim, attnGroups, eps, outputScaleFactor)) : null;
        resnet1 = resnets.add(new ResnetBlock2D(channels, channels, tembChannels, groups, eps, outputScaleFactor));
    }

    /** x [B, C, H, W] -> [B, C, H, W]. */
    public Tensor forward(Tensor x) {
        return forward(x, null);
    }

    /** x [B, C, H, W], temb [B, T] (or null without a time embedding) -> [B, C, H, W]. */
    public Tensor forward(Tensor x, Tensor temb) {
        x = resnet0.forward(x, temb);
        if (attention != null) x = attention.forward(x, null);
        return resnet1.forward(x, temb);
    }
}
