package jdiffusion.image;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import org.w3c.dom.NodeList;

/**
 * Output images in the format their name asks for: {@code .png} (the parameters in a tEXt chunk,
 * {@link PngWriter}) or {@code .jpg}/{@code .jpeg} (JPEG at AUTOMATIC1111's default quality 80, the
 * parameters in a JPEG comment). WebP is refused: the JDK has no WebP encoder and no well-kept
 * pure-Java one exists (TwelveMonkeys reads WebP only), and a native one is not worth the weight.
 * Any other name is refused rather than given bytes of another format. {@code info} and
 * {@code --from} read the parameters back from either ({@link #readParameters}).
 *
 * <p>Example: {@code ImageFiles.write(Path.of("cat.jpg"), image, "a cat\nSteps: 20, ...")}.
 */
public final class ImageFiles {
    /** A format an output image can be written in. */
    public enum Format {
        PNG("png"), JPEG("jpg");

        private final String extension;

        Format(String extension) {
            this.extension = extension;
        }

        /** The file extension written for this format when jdiffusion names the file ({@code png}, {@code jpg}). */
        public String extension() {
            return extension;
        }
    }

    private static final String JPEG_METADATA = "javax_imageio_jpeg_image_1.0";

    /** AUTOMATIC1111's default {@code jpeg_quality} (80 of 100). */
    static final float JPEG_QUALITY = 0.8f;

    private ImageFiles() {}

    /**
     * The format {@code path}'s extension names.
     *
     * @throws JDiffusionException for .webp and any extension other than .png, .jpg and .jpeg
     */
    public static Format formatOf(Path path) {
        String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".png")) return Format.PNG;
        if (name.endsWith(".jpg") || name.endsWith(".jpeg")) return Format.JPEG;
        if (name.endsWith(".webp")) {
            throw new JDiffusionException(path + ": WebP is not written (the JDK has no WebP encoder); use .png or .jpg");
        }
        int dot = name.lastIndexOf('.');
        throw new JDiffusionException(path + ": images are written as .png or .jpg/.jpeg, not "
                + (dot < 0 ? "a name without an extension" : name.substring(dot)) + " (for a folder, create it first)");
    }

    /** True when {@code path} names an image file jdiffusion writes (.png, .jpg, .jpeg); false for anything else. */
    public static boolean hasImageExtension(Path path) {
        String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
        return name.endsWith(".png") || name.endsWith(".jpg") || name.endsWith(".jpeg");
    }

    /** Writes {@code image} (through a temporary file) in the format of its name, with the generation {@code parameters} (may be null). */
    public static void write(Path path, BufferedImage image, String parameters) {
        switch (formatOf(path)) {
            case PNG -> PngWriter.write(path, image, "parameters", parameters);
            case JPEG -> writeJpeg(path, image, parameters);
        }
    }

    /**
     * The generation parameters an image carries: a PNG's {@code parameters} text chunk, or the
     * comment jdiffusion writes into a JPEG (UTF-8); null when it has none.
     */
    public static String readParameters(Path path) {
        if (!isJpeg(path)) return PngWriter.readText(path, "parameters");
        try (InputStream in = Files.newInputStream(path); ImageInputStream iis = ImageIO.createImageInputStream(in)) {
            ImageReader reader = ImageIO.getImageReaders(iis).next();
            try {
                reader.setInput(iis);
                IIOMetadataNode root = (IIOMetadataNode) reader.getImageMetadata(0).getAsTree(JPEG_METADATA);
                NodeList comments = root.getElementsByTagName("com");
                if (comments.getLength() == 0) return null;
                IIOMetadataNode com = (IIOMetadataNode) comments.item(0);
                return com.getUserObject() instanceof byte[] bytes ? new String(bytes, StandardCharsets.UTF_8)
                        : com.getAttribute("comment");
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            throw new JDiffusionException(path + " cannot be read: " + e.getMessage(), e);
        }
    }

    /** By the bytes (FF D8 FF), not the name. */
    private static boolean isJpeg(Path path) {
        try (InputStream in = Files.newInputStream(path)) {
            byte[] head = in.readNBytes(3);
            return head.length == 3 && (head[0] & 0xff) == 0xff && (head[1] & 0xff) == 0xd8 && (head[2] & 0xff) == 0xff;
        } catch (NoSuchFileException e) {
            throw new JDiffusionException(path + ": file not found");
        } catch (IOException e) {
            throw new JDiffusionException(path + " cannot be read: " + e.getMessage(), e);
        }
    }

    private static void writeJpeg(Path path, BufferedImage image, String comment) {
        BufferedImage rgb = image;
        if (image.getType() != BufferedImage.TYPE_INT_RGB) { // JPEG has no alpha: draw onto RGB
            rgb = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_INT_RGB);
            rgb.createGraphics().drawImage(image, 0, 0, null);
        }
        BufferedImage out = rgb;
        AtomicFiles.write(path, tmp -> {
            ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
            try (ImageOutputStream stream = ImageIO.createImageOutputStream(tmp.toFile())) {
                writer.setOutput(stream);
                ImageWriteParam param = writer.getDefaultWriteParam();
                param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
                param.setCompressionQuality(JPEG_QUALITY);
                IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(out), param);
                if (comment != null) {
                    IIOMetadataNode root = (IIOMetadataNode) meta.getAsTree(JPEG_METADATA);
                    IIOMetadataNode com = new IIOMetadataNode("com");
                    com.setUserObject(comment.getBytes(StandardCharsets.UTF_8)); // the attribute would be Latin-1 only
                    root.getElementsByTagName("markerSequence").item(0).appendChild(com);
                    meta.setFromTree(JPEG_METADATA, root);
                }
                writer.write(null, new IIOImage(out, null, meta), param);
            } finally {
                writer.dispose();
            }
        });
    }
}
