package jdiffusion.models.clip;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.training.dreambooth.ImageTransforms;
import org.bytedeco.pytorch.Tensor;

/**
 * transformers {@code CLIPImageProcessor}
 * (https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/image_processing_clip.py)
 * with the OpenAI settings of {@code preprocessor_config.json}: resize so the shortest edge is
 * {@code size} (PIL bicubic, the other side {@code int(size * long / short)}), centre crop (top =
 * (H - crop) // 2), rescale by 1/255, normalise with the mean/std, CHW.
 *
 * <pre>{@code
 * var processor = CLIPImageProcessor.fromJson(Path.of("clip-vit-base-patch32/preprocessor_config.json"));
 * Tensor pixelValues = processor.preprocess(List.of(image)); // [1, 3, 224, 224]
 * }</pre>
 */
public record CLIPImageProcessor(int shortestEdge, int cropHeight, int cropWidth, double rescaleFactor,
                                 float[] imageMean, float[] imageStd) {
    /** openai/clip-vit-base-patch32's mean and std. */
    public static final float[] OPENAI_MEAN = {0.48145466f, 0.4578275f, 0.40821073f};
    public static final float[] OPENAI_STD = {0.26862954f, 0.26130258f, 0.27577711f};

    public CLIPImageProcessor {
        if (shortestEdge < 1 || cropHeight < 1 || cropWidth < 1) throw new JDiffusionException("CLIPImageProcessor sizes must be positive");
        if (imageMean.length != 3 || imageStd.length != 3) throw new JDiffusionException("CLIPImageProcessor needs 3 means and 3 stds");
    }

    /** Reads a {@code preprocessor_config.json}; only bicubic resampling (3) with resize, crop, rescale and normalise on. */
    public static CLIPImageProcessor fromJson(Path file) {
        JsonNode c;
        try {
            c = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new JDiffusionException(file + ": cannot read the CLIP image processor config (" + e.getMessage() + ")", e);
        }
        if (c.path("resample").asInt(3) != 3) throw new JDiffusionException(file + ": only resample 3 (bicubic) is supported");
        for (String flag : new String[] {"do_resize", "do_center_crop", "do_rescale", "do_normalize"}) {
            if (!c.path(flag).asBoolean(true)) throw new JDiffusionException(file + ": " + flag + " false is not supported");
        }
        return new CLIPImageProcessor(c.path("size").path("shortest_edge").asInt(224), c.path("crop_size").path("height").asInt(224),
                c.path("crop_size").path("width").asInt(224), c.path("rescale_factor").asDouble(1 / 255.0),
                floats(c.get("image_mean"), OPENAI_MEAN), floats(c.get("image_std"), OPENAI_STD));
    }

    private static float[] floats(JsonNode n, float[] defaults) {
        if (n == null || !n.isArray()) return defaults.clone();
        float[] out = new float[n.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) n.get(i).asDouble();
        return out;
    }

    /** The shortest-edge resize alone (uint8 RGB), as transformers' resize gives it. */
    public BufferedImage resize(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        int shortSide = Math.min(w, h), longSide = Math.max(w, h);
        int newLong = (int) ((long) shortestEdge * longSide / shortSide);
        return w <= h ? ImageTransforms.resizeBicubic(img, shortestEdge, newLong) : ImageTransforms.resizeBicubic(img, newLong, shortestEdge);
    }

    /** The images as {@code pixel_values} [B, 3, cropHeight, cropWidth] float32. */
    public Tensor preprocess(List<BufferedImage> images) {
        int plane = cropHeight * cropWidth;
        float[] out = new float[images.size() * 3 * plane];
        for (int n = 0; n < images.size(); n++) {
            BufferedImage r = resize(images.get(n));
            if (r.getWidth() < cropWidth || r.getHeight() < cropHeight) {
                throw new JDiffusionException("image " + n + " is smaller than the " + cropWidth + "x" + cropHeight + " crop after resizing");
            }
            int top = (r.getHeight() - cropHeight) / 2, left = (r.getWidth() - cropWidth) / 2;
            for (int y = 0; y < cropHeight; y++) {
                for (int x = 0; x < cropWidth; x++) {
                    int rgb = r.getRGB(left + x, top + y);
                    int[] c = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
                    for (int ch = 0; ch < 3; ch++) {
                        float v = (float) (c[ch] * rescaleFactor); // float64 product, then float32 as transformers
                        out[(n * 3 + ch) * plane + y * cropWidth + x] = (v - imageMean[ch]) / imageStd[ch];
                    }
                }
            }
        }
        return Tensors.fromFloats(out, images.size(), 3, cropHeight, cropWidth);
    }
}
