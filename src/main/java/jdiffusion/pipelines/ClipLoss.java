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
 * {@code clip_guidance_loss} checks. {@link #withCuts} averages the distance over several random views
 * made as the notebook's {@code tfms} makes them: RandomResizedCrop(224) (area 8-100 %, aspect
 * 3/4-4/3, resized to the model's size), RandomAffine(5) (a rotation by up to 5 degrees either way,
 * nearest sampling, zeros outside, as torchvision's defaults) and RandomHorizontalFlip, then the
 * normalisation. Every step is differentiable, so the guidance gradient flows through the views.
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
        return features(resize(x0));
    }

    private Tensor resize(Tensor x) {
        int size = clip.config().imageSize();
        return torch.upsample_bilinear2d(x, new long[] {size, size}, false);
    }

    /** The normalisation and the vision model: images already at the model's size. */
    private Tensor features(Tensor sized) {
        Tensor m = Tensors.fromFloats(mean, 1, 3, 1, 1).to(sized.device(), sized.scalar_type());
        Tensor s = Tensors.fromFloats(std, 1, 3, 1, 1).to(sized.device(), sized.scalar_type());
        return clip.forward(sized.sub(m).div(s)).imageEmbeds();
    }

    /** dists [B, 1] of the notebook. */
    public Tensor distances(Tensor x0) {
        return sphericalDistance(imageFeatures(x0));
    }

    private Tensor sphericalDistance(Tensor imageFeatures) {
        Tensor a = normalize(imageFeatures.unsqueeze(1));     // [B, 1, P]
        Tensor b = normalize(textFeatures.unsqueeze(0));       // [1, 1, P]
        return a.sub(b).norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {2}, false)
                .div(new Scalar(2.0)).arcsin().pow(new Scalar(2.0)).mul(new Scalar(2.0));
    }

    @Override
    public Tensor apply(Tensor x0) {
        if (cuts == 1) return distances(x0).mean();
        Tensor sum = null;
        for (int i = 0; i < cuts; i++) {
            Tensor d = sphericalDistance(features(randomView(x0))).mean();
            sum = sum == null ? d : sum.add(d);
        }
        return sum.div(new Scalar((double) cuts));
    }

    /**
     * One view as the notebook's tfms: RandomResizedCrop's box (10 tries, else the whole image) resized to the
     * model's size, RandomAffine(5)'s rotation, RandomHorizontalFlip.
     */
    private Tensor randomView(Tensor x) {
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
        Tensor view = rotate(resize(x.narrow(2, top, ch).narrow(3, left, cw)), (rng.nextDouble() * 2 - 1) * 5);
        return rng.nextBoolean() ? view.flip(3) : view;
    }

    /** A rotation about the centre by {@code degrees}: nearest sampling, zeros outside (torchvision's rotate defaults). */
    static Tensor rotate(Tensor x, double degrees) {
        double a = Math.toRadians(degrees), c = Math.cos(a), s = Math.sin(a);
        long b = x.size(0);
        Tensor theta = Tensors.fromFloats(new float[] {(float) c, (float) -s, 0f, (float) s, (float) c, 0f}, 1, 2, 3)
                .to(x.device(), x.scalar_type()).expand(b, 2, 3).contiguous();
        Tensor grid = torch.affine_grid_generator(theta, new long[] {b, x.size(1), x.size(2), x.size(3)}, false);
        return torch.grid_sampler(x, grid, 1 /* nearest */, 0 /* zeros */, false);
    }

    /** F.normalize(v, dim=2): v / max(||v||, 1e-12). */
    private static Tensor normalize(Tensor v) {
        Tensor n = v.norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {2}, true)
                .clamp_min(new Scalar(1e-12));
        return v.div(n);
    }
}
