package jdiffusion.image;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Locale;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;

/**
 * Output images in the format their name asks for: {@code .png} (the parameters in a tEXt chunk,
 * {@link PngWriter}) or {@code .jpg}/{@code .jpeg} (JPEG at AUTOMATIC1111's default quality 80, the
 * parameters in a JPEG comment). WebP is refused: the JDK has no WebP encoder and no well-kept
 * pure-Java one exists (TwelveMonkeys reads WebP only), and a native one is not worth the weight.
 * Any other name is refused rather than given bytes of another format.
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
                + (dot < 0 ? "a name without an extension" : name.substring(dot)));
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
                    String format = "javax_imageio_jpeg_image_1.0";
                    IIOMetadataNode root = (IIOMetadataNode) meta.getAsTree(format);
                    IIOMetadataNode com = new IIOMetadataNode("com");
                    com.setAttribute("comment", comment);
                    root.getElementsByTagName("markerSequence").item(0).appendChild(com);
                    meta.setFromTree(format, root);
                }
                writer.write(null, new IIOImage(out, null, meta), param);
            } finally {
                writer.dispose();
            }
        });
    }
}
