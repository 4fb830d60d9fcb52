package jdiffusion.server;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.nio.ByteBuffer;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;

/**
 * Live previews without the VAE: each latent pixel's 4 channels times a fixed 4x3 matrix give its
 * colour (ComfyUI's Latent2RGB, the same idea as A1111's "Approx cheap"). The factors are
 * ComfyUI's for the SD 1.x/2.x VAE latent space (comfy/latent_formats.py, class SD15), applied to
 * the VAE-scaled latents as ComfyUI does, then mapped from [-1, 1] to [0, 255].
 */
final class LatentPreview {
    /** rows: latent channels 0..3; columns: R, G, B. */
    static final float[][] SD15_FACTORS = {
            {0.3512f, 0.2297f, 0.3227f},
            {0.3250f, 0.4974f, 0.2350f},
            {-0.2829f, 0.1762f, 0.2721f},
            {-0.2120f, -0.2616f, -0.7177f},
    };
    /** A preview's longer side is scaled up to at least this (latents are 1/8 of the image). */
    static final int MIN_SIDE = 256;
    /** ComfyUI's binary WebSocket frame: event 1 = PREVIEW_IMAGE, then format 1 = JPEG (2 = PNG). */
    static final int PREVIEW_IMAGE = 1;
    static final int JPEG = 1;

    private LatentPreview() {}

    /**
     * The first image of a {@code [B, 4, h, w]} batch as RGB, upscaled to a viewable size; null for
     * latents of another layout (the factors are for 4-channel SD latents), so a preview never fails a job.
     */
    static BufferedImage image(Tensor latents) {
        long[] s = Tensors.shape(latents);
        if (s.length != 4 || s[1] != 4) return null;
        int h = (int) s[2];
        int w = (int) s[3];
        float[] v = Tensors.toFloats(latents.get(0).contiguous());
        return upscale(toRgb(v, h, w));
    }

    /** {@code v} is one latent image, channel-major {@code [4, h, w]}. */
    static BufferedImage toRgb(float[] v, int h, int w) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int plane = h * w;
        for (int i = 0; i < plane; i++) {
            int rgb = 0;
            for (int c = 0; c < 3; c++) {
                float x = 0;
                for (int k = 0; k < 4; k++) x += v[k * plane + i] * SD15_FACTORS[k][c];
                int b = Math.round(Math.min(1f, Math.max(0f, (x + 1f) / 2f)) * 255f);
                rgb = rgb << 8 | b;
            }
            img.setRGB(i % w, i / w, rgb);
        }
        return img;
    }

    private static BufferedImage upscale(BufferedImage img) {
        int longer = Math.max(img.getWidth(), img.getHeight());
        if (longer >= MIN_SIDE) return img;
        int f = Math.min(8, (MIN_SIDE + longer - 1) / longer);
        BufferedImage out = new BufferedImage(img.getWidth() * f, img.getHeight() * f, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.drawImage(img, 0, 0, out.getWidth(), out.getHeight(), null);
        g.dispose();
        return out;
    }

    static byte[] jpeg(BufferedImage img) {
        return img == null ? null : Base64Images.encode(img, "jpeg");
    }

    /** ComfyUI's frame: big-endian int 1 (preview), big-endian int 1 (JPEG), the JPEG bytes. */
    static byte[] frame(byte[] jpeg) {
        return ByteBuffer.allocate(8 + jpeg.length).putInt(PREVIEW_IMAGE).putInt(JPEG).put(jpeg).array();
    }

    /** Steps between previews: every step up to 512x512, then fewer as images grow (each costs an encode). */
    static int every(int configured, int width, int height) {
        if (configured > 0) return configured;
        return (long) width * height <= 512L * 512 ? 1 : 4;
    }
}
