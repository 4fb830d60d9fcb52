package jdiffusion.nn;

import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;

/**
 * A CPU convolution with fewer output channels than oneDNN's channel block, computed with zero
 * filters appended up to a multiple of 16 and the extra channels sliced off.
 *
 * <p>Why: libtorch 2.10 (oneDNN v3.7.1) on CPUs without AMX (measured on an AMD EPYC Zen 5)
 * computes a wrong input gradient for 3x3 convolutions whose output channels are not a whole
 * block: oneDNN pads them to its block (16 for AVX-512, 8 for AVX2) in {@code backward_data},
 * and the result is off by 30-100 % or NaN. Every UNet's {@code conv_out} (4 channels) and the
 * VAE decoder's (3) sit on that path, so every training run and every guidance by gradient went
 * wrong there; bf16 training turned NaN. With 16 real channels nothing is padded on any ISA
 * (16 is a multiple of 8). The forward is padded as well, which also keeps bf16 channels-last
 * inference on oneDNN's unpadded path. Cost: the extra filters are zeros; at SD sizes they add
 * 0.04 % to a UNet step and 0.3 % to a VAE decode. The values are unchanged: the zero filters
 * only add output channels, which are dropped. {@code ConvolutionGradientTest} checks every
 * conv shape the models use against float64.
 */
final class PaddedConvolution {
    /** oneDNN's widest channel block for fp32/bf16 convolutions on x86 (AVX-512: 16, AVX2: 8). */
    static final long CHANNEL_BLOCK = 16;

    private PaddedConvolution() {}

    /** Whether a convolution to {@code outChannels} on {@code x}'s device takes the padded path. */
    static boolean applies(long outChannels, Tensor x) {
        return outChannels % CHANNEL_BLOCK != 0 && x.is_cpu();
    }

    /**
     * {@code F.conv2d(x, weight, bias, stride, padding)} [B, in, H, W] -> [B, out, Hout, Wout],
     * computed as a convolution to the next multiple of 16 channels; {@code bias} may be undefined. The output has the layout
     * oneDNN gives for {@code x} (channels-last in, channels-last out).
     */
    static Tensor forward(Tensor x, Tensor weight, Tensor bias, long stride, long padding) {
        long out = weight.size(0);
        long extra = CHANNEL_BLOCK - out % CHANNEL_BLOCK;
        boolean channelsLast = weight.is_contiguous(torch.MemoryFormat.ChannelsLast) && !weight.is_contiguous();
        Tensor zeroFilters = weight.new_zeros(extra, weight.size(1), weight.size(2), weight.size(3));
        Tensor w = torch.cat(new TensorVector(weight, zeroFilters), 0);          // [out+extra, in, k, k]
        if (channelsLast) w = w.contiguous(torch.MemoryFormat.ChannelsLast);
        // a layer without bias (bias=False) has an undefined bias tensor
        TensorOptional b = bias.defined()
                ? new TensorOptional(torch.cat(new TensorVector(bias, bias.new_zeros(extra)), 0)) : new TensorOptional();
        Tensor y = torch.conv2d(x, w, b, new long[] {stride, stride},
                new long[] {padding, padding}, new long[] {1, 1}, 1);            // [B, out+extra, Hout, Wout]
        Tensor kept = y.narrow(1, 0, out);                                         // [B, out, Hout, Wout]
        boolean lastOut = y.is_contiguous(torch.MemoryFormat.ChannelsLast) && !y.is_contiguous();
        return kept.contiguous(lastOut ? torch.MemoryFormat.ChannelsLast : torch.MemoryFormat.Contiguous);
    }
}
