package jdiffusion.tools.bench;

import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.nn.OpKind;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * FLOPs of one forward, from the model's own convolutions, linears and attention products at a
 * given input shape (a counting-only forward: see {@link OpTally}). Normalisation, activations and
 * copies are not counted, as in the reference figures.
 */
public record FlopCount(long convolution, long linear, long attention) {
    public long total() {
        return convolution + linear + attention;
    }

    static FlopCount of(OpTally tally) {
        return new FlopCount(tally.flops(OpKind.CONVOLUTION), tally.flops(OpKind.LINEAR), tally.flops(OpKind.ATTENTION));
    }

    /** One UNet evaluation on {@code batch} latents of h x w with a 77-token text context. */
    public static FlopCount unet(UNet2DConditionModel unet, long batch, long h, long w) {
        OpTally tally = OpTally.countingOnly();
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor sample = torch.zeros(batch, unet.config().inChannels(), h, w);
            Tensor context = torch.zeros(batch, 77, unet.config().crossAttentionDim().getFirst());
            Tensor timestep = torch.zeros(batch);
            tally.observe(() -> unet.forward(sample, timestep, context));
        }
        return of(tally);
    }

    /** One VAE decode of {@code batch} latents of h x w (the image is 8x larger for SD). */
    public static FlopCount vaeDecode(AutoencoderKL vae, long batch, long h, long w) {
        OpTally tally = OpTally.countingOnly();
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor latents = torch.zeros(batch, vae.config().latentChannels(), h, w);
            tally.observe(() -> vae.decode(latents));
        }
        return of(tally);
    }
}
