package jdiffusion.models.dpt;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Resampling;
import jdiffusion.models.ConfigJson;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * transformers' {@code DPTImageProcessor} as its {@code preprocessor_config.json} says: resize
 * (Pillow, {@link Resampling}; to exactly {@code size}, or keeping the aspect ratio and rounding to
 * {@code ensure_multiple_of}), rescale by {@code rescale_factor}, normalise with {@code image_mean} /
 * {@code image_std}, channels first. stable-diffusion-2-depth: 384x384 bilinear, mean/std 0.5.
 *
 * <pre>{@code
 * Tensor pixels = DPTImageProcessor.fromJson(dir.resolve("preprocessor_config.json")).preprocess(List.of(image));
 * }</pre>
 */
public record DPTImageProcessor(boolean doResize, int height, int width, int resample, boolean keepAspectRatio,
                                int ensureMultipleOf, boolean doRescale, double rescaleFactor, boolean doNormalize,
                                List<Double> imageMean, List<Double> imageStd) {
    public DPTImageProcessor {
        if (height <= 0 || width <= 0) throw new JDiffusionException("DPTImageProcessor: 'size' must be positive");
        if (ensureMultipleOf <= 0) throw new JDiffusionException("DPTImageProcessor: 'ensure_multiple_of' must be positive");
        if (imageMean.size() != 3 || imageStd.size() != 3) {
            throw new JDiffusionException("DPTImageProcessor: 'image_mean' and 'image_std' need 3 entries (RGB)");
        }
        Resampling.Filter.ofPillowCode(resample); // fails early for a filter that is not built
        imageMean = List.copyOf(imageMean);
        imageStd = List.copyOf(imageStd);
    }

    public static DPTImageProcessor fromJson(Path file) {
        ConfigJson c = ConfigJson.read(file, "DPTImageProcessor");
        // "size" is {"height": h, "width": w}, or one number in older files (DPTFeatureExtractor)
        Integer side = c.isNumber("size") ? c.getInt("size", 384) : null;
        ConfigJson size = side != null ? null : c.child("size");
        if (c.getBoolean("do_pad", false)) throw c.error("do_pad", "is true; padding to size_divisor is not built");
        return c.build(() -> new DPTImageProcessor(
                c.getBoolean("do_resize", true),
                side != null ? side : size == null ? 384 : size.getInt("height", 384),
                side != null ? side : size == null ? 384 : size.getInt("width", 384),
                c.getInt("resample", 3),
                c.getBoolean("keep_aspect_ratio", false),
                c.getInt("ensure_multiple_of", 1),
                c.getBoolean("do_rescale", true),
                c.getDouble("rescale_factor", 1 / 255.0),
                c.getBoolean("do_normalize", true),
                doubles(c.getOptionalDoubleList("image_mean")),
                doubles(c.getOptionalDoubleList("image_std"))));
    }

    private static List<Double> doubles(List<Double> v) {
        return v == null ? List.of(0.5, 0.5, 0.5) : v; // IMAGENET_STANDARD_MEAN / _STD
    }

    /** The resized 8-bit image (the first step; exact against Pillow). */
    public BufferedImage resize(BufferedImage image) {
        if (!doResize) return image;
        int[] hw = outputSize(image.getHeight(), image.getWidth());
        return Resampling.resize(image, hw[1], hw[0], Resampling.Filter.ofPillowCode(resample));
    }

    /** transformers' dpt get_resize_output_image_size: [height, width]. */
    int[] outputSize(int inHeight, int inWidth) {
        double scaleHeight = (double) height / inHeight;
        double scaleWidth = (double) width / inWidth;
        if (keepAspectRatio) {
            if (Math.abs(1 - scaleWidth) < Math.abs(1 - scaleHeight)) scaleHeight = scaleWidth;
            else scaleWidth = scaleHeight;
        }
        return new int[] {multiple(scaleHeight * inHeight), multiple(scaleWidth * inWidth)};
    }

    private int multiple(double v) {
        return (int) (Math.rint(v / ensureMultipleOf) * ensureMultipleOf); // Python's round: half to even
    }

    /** pixel_values [B, 3, H, W] float32; the images must come out at one size. */
    public Tensor preprocess(List<BufferedImage> images) {
        BufferedImage first = resize(images.getFirst());
        int h = first.getHeight(), w = first.getWidth();
        float[] v = new float[images.size() * 3 * h * w];
        for (int n = 0; n < images.size(); n++) {
            BufferedImage img = n == 0 ? first : resize(images.get(n));
            if (img.getHeight() != h || img.getWidth() != w) {
                throw new JDiffusionException("DPTImageProcessor: the images resize to different sizes; give one size");
            }
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y);
                    for (int c = 0; c < 3; c++) {
                        double p = (rgb >> (16 - 8 * c)) & 0xff;
                        if (doRescale) p = (float) (p * rescaleFactor); // transformers rescales to float32 first
                        if (doNormalize) p = (float) ((p - imageMean.get(c)) / imageStd.get(c));
                        v[((n * 3 + c) * h + y) * w + x] = (float) p;
                    }
                }
            }
        }
        return Tensors.fromFloats(v, images.size(), 3, h, w);
    }
}
