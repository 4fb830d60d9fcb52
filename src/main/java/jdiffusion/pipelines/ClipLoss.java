package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPImageProcessor;
import jdiffusion.models.clip.CLIPVisionModelWithProjection;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The diffusion course's unit 2 {@code clip_loss}: the squared great-circle distance between the CLIP
 * image embedding of x0 and a text embedding, {@code 2 * arcsin(|a/|a| - b/|b|| / 2)^2}, averaged over
 * the batch. The image goes through the differentiable part of {@link CLIPImageProcessor}: a bilinear
 * resize of the whole x0 to the model's size (align_corners false, no antialias) and the normalisation.
 * With one cut (the default) the whole image is used: the deterministic form the golden case
 * {@code clip_guidance_loss} checks. {@link #withCuts} averages the distance over several random cuts as
 * the notebook does (torchvision RandomResizedCrop: area 8-100 %, aspect 3/4-4/3, and a horizontal flip
 * half of the time); the notebook's RandomAffine, ColorJitter and GaussianBlur are not applied.
 *
 * @param textFeatures [1, projection_dim] (a CLIP text model's {@code text_embeds})
 * @param cuts         1 = the whole image; more = random cuts drawn from {@code rng}
 * @param rng          the cuts' generator (its state advances with every call: one loss per run), or null for one cut
 */
public record ClipLoss(CLIPVisionModelWithProjection clip, Tensor textFeatures, float[] mean, float[] std, int cuts,
                       java.util.SplittableRandom rng) implements PixelGuidance.Loss {
    public ClipLoss {
        if (cuts < 1 || cuts > 64) throw new JDiffusionException("the number of CLIP cuts must be 1 to 64, got " + cuts);
        if (cuts > 1 && rng == null) throw new JDiffusionException("random CLIP cuts need a generator");
        if (textFeatures.dim() != 2 || textFeatures.size(1) != clip.config().projectionDim()) {
            throw new JDiffusionException("the CLIP text features must be [1, " + clip.config().projectionDim() + "], got "
                    + Tensors.shapeString(textFeatures));
        }
    }

    /** With OpenAI's mean and std (openai/clip-vit-base-patch32's processor). */
    public ClipLoss(CLIPVisionModelWithProjection clip, Tensor textFeatures) {
        this(clip, textFeatures, CLIPImageProcessor.OPENAI_MEAN, CLIPImageProcessor.OPENAI_STD, 1, null);
    }

    /** The same loss averaged over {@code n} random cuts drawn from {@code seed} (the notebook uses 4). */
    public ClipLoss withCuts(int n, long seed) {
        return new ClipLoss(clip, textFeatures, mean, std, n, n == 1 ? null : new java.util.SplittableRandom(seed));
    }

    /** x0 [B, 3, H, W] (values around [-1, 1], fed as the notebook feeds them) -> the image features [B, P]. */
    public Tensor imageFeatures(Tensor x0) {
        int size = clip.config().imageSize();
        Tensor big = torch.upsample_bilinear2d(x0, new long[] {size, size}, false);
        Tensor m = Tensors.fromFloats(mean, 1, 3, 1, 1).to(x0.device(), x0.scalar_type());
        Tensor s = Tensors.fromFloats(std, 1, 3, 1, 1).to(x0.device(), x0.scalar_type());
        return clip.forward(big.sub(m).div(s)).imageEmbeds();
    }

    /** dists [B, 1] of the notebook. */
    public Tensor distances(Tensor x0) {
        Tensor a = normalize(imageFeatures(x0).unsqueeze(1));  // [B, 1, P]
        Tensor b = normalize(textFeatures.unsqueeze(0));       // [1, 1, P]
        return a.sub(b).norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {2}, false)
                .div(new Scalar(2.0)).arcsin().pow(new Scalar(2.0)).mul(new Scalar(2.0));
    }

    @Override
    public Tensor apply(Tensor x0) {
        if (cuts == 1) return distances(x0).mean();
        Tensor sum = null;
        for (int i = 0; i < cuts; i++) {
            Tensor d = distances(randomCut(x0)).mean();
            sum = sum == null ? d : sum.add(d);
        }
        return sum.div(new Scalar((double) cuts));
    }

    /** torchvision RandomResizedCrop's box (10 tries, else the whole image) and a coin-flip mirror; the resize follows in distances. */
    private Tensor randomCut(Tensor x) {
        long h = x.size(2), w = x.size(3);
        long top = 0, left = 0, ch = h, cw = w;
        for (int attempt = 0; attempt < 10; attempt++) {
            double area = h * w * (0.08 + rng.nextDouble() * 0.92);
            double ratio = Math.exp(Math.log(3.0 / 4) + rng.nextDouble() * (Math.log(4.0 / 3) - Math.log(3.0 / 4)));
            long cwTry = Math.round(Math.sqrt(area * ratio)), chTry = Math.round(Math.sqrt(area / ratio));
            if (cwTry > 0 && chTry > 0 && cwTry <= w && chTry <= h) {
                ch = chTry;
                cw = cwTry;
                top = rng.nextLong(h - ch + 1);
                left = rng.nextLong(w - cw + 1);
                break;
            }
        }
        Tensor cut = x.narrow(2, top, ch).narrow(3, left, cw);
        return rng.nextBoolean() ? cut.flip(3) : cut;
    }

    /** F.normalize(v, dim=2): v / max(||v||, 1e-12). */
    private static Tensor normalize(Tensor v) {
        Tensor n = v.norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {2}, true)
                .clamp_min(new Scalar(1e-12));
        return v.div(n);
    }
}
