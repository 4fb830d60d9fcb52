package jdiffusion.server;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Base64;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import jdiffusion.image.Images;

/**
 * Images in request bodies: base64 or {@code data:image/...;base64,} URLs, as A1111 accepts them.
 * The header's width x height is checked against the pixel limit BEFORE the pixels are decoded,
 * so a small PNG that declares a 50000x50000 image cannot make the server allocate 10 GB.
 */
final class Base64Images {
    private Base64Images() {}

    static byte[] bytes(String field, String value) {
        String b64 = value.strip();
        if (b64.startsWith("data:")) {
            int comma = b64.indexOf(',');
            if (comma < 0 || !b64.substring(0, comma).endsWith(";base64")) {
                throw ApiException.invalid(field, field + " is a data URL without ';base64,'");
            }
            b64 = b64.substring(comma + 1);
        }
        try {
            return Base64.getMimeDecoder().decode(b64);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(field, field + " is not valid base64: " + e.getMessage());
        }
    }

    /** An RGB image from base64; 422 naming {@code field} when it is not an image or is too large. */
    static BufferedImage decode(String field, String value, long maxPixels) {
        byte[] data = bytes(field, value);
        if (data.length == 0) throw ApiException.invalid(field, field + " is empty");
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(data))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) throw ApiException.invalid(field, field + " is not a PNG, JPEG, BMP or GIF image");
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                long w = reader.getWidth(0);
                long h = reader.getHeight(0);
                if (w < 1 || h < 1 || w * h > maxPixels) {
                    throw ApiException.invalid(field, field + " is " + w + "x" + h + " pixels; at most " + maxPixels
                            + " pixels are accepted (--max-pixels)");
                }
                BufferedImage img = reader.read(0);
                return Images.toRgb(img);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof ApiException a) throw a;
            throw ApiException.invalid(field, field + " cannot be decoded as an image (" + e.getClass().getSimpleName() + ")");
        }
    }

    static String png(BufferedImage img) {
        return Base64.getEncoder().encodeToString(encode(img, "png"));
    }

    static byte[] encode(BufferedImage img, String format) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(img, format, out)) throw new IllegalStateException("no " + format + " writer");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }
}
