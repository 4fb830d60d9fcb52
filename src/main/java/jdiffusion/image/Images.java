package jdiffusion.image;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Pixels between Java images and tensors, following diffusers' VaeImageProcessor: images go in as
 * {@code pixel / 255 * 2 - 1} (NCHW float), come out as {@code round(clamp(x / 2 + 0.5, 0, 1) * 255)}.
 */
public final class Images {
    private Images() {}

    /** How an init image whose size differs from the requested one is fitted (AUTOMATIC1111's modes). */
    public enum ResizeMode {
        /** Stretch to the new size. */
        RESIZE,
        /** Scale to cover the new size, then cut the centre. */
        CROP,
        /** Scale to fit inside the new size, then fill the borders by stretching the edge pixels. */
        FILL
    }

    /** Reads a PNG, JPEG, BMP or GIF; a missing or unreadable file gets a clear error. */
    public static BufferedImage read(Path path) {
        try (InputStream in = Files.newInputStream(path)) {
            BufferedImage img = ImageIO.read(in);
            if (img == null) {
                throw new JDiffusionException(path + " is not an image jdiffusion can read (PNG, JPEG, BMP or GIF)");
            }
            return toRgb(img);
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(path + ": file not found");
        } catch (IOException e) {
            throw new JDiffusionException(path + " cannot be read as an image: " + e.getMessage(), e);
        }
    }

    public static BufferedImage toRgb(BufferedImage img) {
        if (img.getType() == BufferedImage.TYPE_INT_RGB) return img;
        BufferedImage rgb = new BufferedImage(img.getWidth(), img.getHeight(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        g.drawImage(img, 0, 0, java.awt.Color.WHITE, null);
        g.dispose();
        return rgb;
    }

    /** {@code [1, 3, H, W]} float32 in [-1, 1]. */
    public static Tensor toTensor(BufferedImage img) {
        return toTensor(java.util.List.of(img));
    }

    /** A batch {@code [B, 3, H, W]} float32 in [-1, 1]; the images must all have the same size. */
    public static Tensor toTensor(java.util.List<BufferedImage> images) {
        int w = images.getFirst().getWidth();
        int h = images.getFirst().getHeight();
        int plane = w * h;
        float[] nchw = new float[images.size() * 3 * plane];
        for (int n = 0; n < images.size(); n++) {
            BufferedImage img = images.get(n);
            if (img.getWidth() != w || img.getHeight() != h) {
                throw new JDiffusionException("image " + n + " of the batch is " + img.getWidth() + "x" + img.getHeight()
                        + ", the first is " + w + "x" + h + ": a batch needs one size");
            }
            int base = n * 3 * plane;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y);
                    int i = base + y * w + x;
                    nchw[i] = ((rgb >> 16) & 0xff) / 255f * 2f - 1f;
                    nchw[plane + i] = ((rgb >> 8) & 0xff) / 255f * 2f - 1f;
                    nchw[2 * plane + i] = (rgb & 0xff) / 255f * 2f - 1f;
                }
            }
        }
        return Tensors.fromFloats(nchw, images.size(), 3, h, w);
    }

    /** A mask as {@code [1, 1, H, W]} float32 in [0, 1] (white = 1 = repaint), from its luminance. */
    public static Tensor maskToTensor(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        float[] out = new float[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                out[y * w + x] = luminance(img.getRGB(x, y)) / 255f;
            }
        }
        return Tensors.fromFloats(out, 1, 1, h, w);
    }

    /**
     * The mask of diffusers' legacy (blend) inpainting at latent size, {@code [1, 1, h, w]}: 1 where
     * the image is kept, 0 where it is repainted, in between for grey. As
     * {@code StableDiffusionInpaintPipelineLegacy.preprocess_mask}: the mask's luminance ("L"),
     * resized to the latent size with PIL's NEAREST filter, divided by 255 and NOT binarised, then
     * {@code 1 - mask}.
     *
     * <p>PIL's NEAREST samples each output pixel's centre: source column
     * {@code floor(s/2 + x*s)} with {@code s = inWidth / outWidth}, accumulated in double as
     * Pillow's {@code ImagingScaleAffine} does. For a vae_scale_factor of 8 that is column
     * {@code 8x + 4}, not torch's {@code upsample_nearest2d} column {@code 8x}.
     */
    public static Tensor legacyInpaintKeepMask(BufferedImage mask, int latentWidth, int latentHeight) {
        int[] xs = pilNearestSources(mask.getWidth(), latentWidth);
        int[] ys = pilNearestSources(mask.getHeight(), latentHeight);
        float[] keep = new float[latentWidth * latentHeight];
        for (int y = 0; y < latentHeight; y++) {
            for (int x = 0; x < latentWidth; x++) {
                float repaint = luminance(mask.getRGB(xs[x], ys[y])) / 255f;
                keep[y * latentWidth + x] = 1f - repaint;
            }
        }
        return Tensors.fromFloats(keep, 1, 1, latentHeight, latentWidth);
    }

    /** The source index of each of {@code out} pixels when PIL's NEAREST resizes {@code in} pixels to {@code out}. */
    static int[] pilNearestSources(int in, int out) {
        double scale = (double) in / out;
        int[] sources = new int[out];
        double position = scale * 0.5;
        for (int i = 0; i < out; i++) {
            sources[i] = Math.min(in - 1, (int) position);
            position += scale;
        }
        return sources;
    }

    /** PIL's "L" conversion: ITU-R 601-2 luma, rounded as PIL does. */
    static int luminance(int rgb) {
        int r = (rgb >> 16) & 0xff;
        int g = (rgb >> 8) & 0xff;
        int b = rgb & 0xff;
        return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    }

    /** Images from a decoded batch {@code [B, 3, H, W]} in [-1, 1]. */
    public static BufferedImage[] fromTensor(Tensor decoded) {
        long[] s = Tensors.shape(decoded);
        int b = (int) s[0];
        int h = (int) s[2];
        int w = (int) s[3];
        float[] v = Tensors.toFloats(decoded);
        BufferedImage[] out = new BufferedImage[b];
        int plane = w * h;
        for (int n = 0; n < b; n++) {
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            int base = n * 3 * plane;
            for (int i = 0; i < plane; i++) {
                int r = toByte(v[base + i]);
                int g = toByte(v[base + plane + i]);
                int bl = toByte(v[base + 2 * plane + i]);
                img.setRGB(i % w, i / w, (r << 16) | (g << 8) | bl);
            }
            out[n] = img;
        }
        return out;
    }

    private static int toByte(float x) {
        float v = Math.min(1f, Math.max(0f, x / 2f + 0.5f));
        return Math.round(v * 255f);
    }

    /** Fits {@code img} to {@code width x height} with the given mode (bicubic, as PIL's LANCZOS is close enough here). */
    public static BufferedImage fit(BufferedImage img, int width, int height, ResizeMode mode) {
        if (img.getWidth() == width && img.getHeight() == height) return img;
        return switch (mode) {
            case RESIZE -> scale(img, width, height);
            case CROP -> {
                double ratio = Math.max((double) width / img.getWidth(), (double) height / img.getHeight());
                int sw = Math.max(width, (int) Math.round(img.getWidth() * ratio));
                int sh = Math.max(height, (int) Math.round(img.getHeight() * ratio));
                BufferedImage scaled = scale(img, sw, sh);
                yield scaled.getSubimage((sw - width) / 2, (sh - height) / 2, width, height);
            }
            case FILL -> {
                double ratio = Math.min((double) width / img.getWidth(), (double) height / img.getHeight());
                int sw = Math.max(1, (int) Math.round(img.getWidth() * ratio));
                int sh = Math.max(1, (int) Math.round(img.getHeight() * ratio));
                BufferedImage scaled = scale(img, sw, sh);
                BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
                int ox = (width - sw) / 2;
                int oy = (height - sh) / 2;
                for (int y = 0; y < height; y++) {
                    int sy = Math.min(sh - 1, Math.max(0, y - oy));
                    for (int x = 0; x < width; x++) {
                        int sx = Math.min(sw - 1, Math.max(0, x - ox));
                        out.setRGB(x, y, scaled.getRGB(sx, sy));
                    }
                }
                yield out;
            }
        };
    }

    static BufferedImage scale(BufferedImage img, int width, int height) {
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(img, 0, 0, width, height, null);
        g.dispose();
        return out;
    }

    /** A separable Gaussian blur of a mask with the given radius in pixels (AUTOMATIC1111's mask blur). */
    public static BufferedImage blurMask(BufferedImage mask, int radius) {
        if (radius <= 0) return mask;
        int w = mask.getWidth();
        int h = mask.getHeight();
        double sigma = radius;
        int k = (int) Math.ceil(sigma * 3);
        double[] kernel = new double[2 * k + 1];
        double sum = 0;
        for (int i = -k; i <= k; i++) {
            kernel[i + k] = Math.exp(-(i * i) / (2 * sigma * sigma));
            sum += kernel[i + k];
        }
        for (int i = 0; i < kernel.length; i++) kernel[i] /= sum;
        double[] src = new double[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) src[y * w + x] = luminance(mask.getRGB(x, y));
        }
        double[] tmp = new double[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double acc = 0;
                for (int i = -k; i <= k; i++) acc += kernel[i + k] * src[y * w + Math.min(w - 1, Math.max(0, x + i))];
                tmp[y * w + x] = acc;
            }
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double acc = 0;
                for (int i = -k; i <= k; i++) acc += kernel[i + k] * tmp[Math.min(h - 1, Math.max(0, y + i)) * w + x];
                int v = (int) Math.round(Math.min(255, Math.max(0, acc)));
                out.setRGB(x, y, (v << 16) | (v << 8) | v);
            }
        }
        return out;
    }
}
