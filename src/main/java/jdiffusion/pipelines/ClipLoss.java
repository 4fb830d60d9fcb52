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
 * The notebook's random augmentations (RandomResizedCrop, RandomAffine, flips over several cuts) are not
 * applied: this is the deterministic form the golden case {@code clip_guidance_loss} checks.
 *
 * @param textFeatures [1, projection_dim] (a CLIP text model's {@code text_embeds})
 */
public record ClipLoss(CLIPVisionModelWithProjection clip, Tensor textFeatures, float[] mean, float[] std)
        implements PixelGuidance.Loss {
    public ClipLoss {
        if (textFeatures.dim() != 2 || textFeatures.size(1) != clip.config().projectionDim()) {
            throw new JDiffusionException("the CLIP text features must be [1, " + clip.config().projectionDim() + "], got "
                    + Tensors.shapeString(textFeatures));
        }
    }

    /** With OpenAI's mean and std (openai/clip-vit-base-patch32's processor). */
    public ClipLoss(CLIPVisionModelWithProjection clip, Tensor textFeatures) {
        this(clip, textFeatures, CLIPImageProcessor.OPENAI_MEAN, CLIPImageProcessor.OPENAI_STD);
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
        return distances(x0).mean();
    }

    /** F.normalize(v, dim=2): v / max(||v||, 1e-12). */
    private static Tensor normalize(Tensor v) {
        Tensor n = v.norm(new org.bytedeco.pytorch.ScalarOptional(new Scalar(2.0)), new long[] {2}, true)
                .clamp_min(new Scalar(1e-12));
        return v.div(n);
    }
}
