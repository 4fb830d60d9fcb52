package jdiffusion.image;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import org.w3c.dom.NodeList;

/**
 * PNG files with text chunks: the generation parameters go into a {@code tEXt} chunk named
 * {@code parameters}, where AUTOMATIC1111, ComfyUI and other tools look for them.
 */
public final class PngWriter {
    private static final String FORMAT = "javax_imageio_png_1.0";

    private PngWriter() {}

    /** Writes {@code image} to {@code path} (through a temporary file) with a tEXt chunk {@code key = text}. */
    public static void write(Path path, BufferedImage image, String key, String text) {
        AtomicFiles.write(path, tmp -> {
            ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
            try (ImageOutputStream out = ImageIO.createImageOutputStream(tmp.toFile())) {
                writer.setOutput(out);
                IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image), null);
                if (text != null) {
                    IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                    entry.setAttribute("keyword", key);
                    entry.setAttribute("value", text);
                    IIOMetadataNode tEXt = new IIOMetadataNode("tEXt");
                    tEXt.appendChild(entry);
                    IIOMetadataNode root = new IIOMetadataNode(FORMAT);
                    root.appendChild(tEXt);
                    meta.mergeTree(FORMAT, root);
                }
                writer.write(new IIOImage(image, null, meta));
            } finally {
                writer.dispose();
            }
        });
    }

    /** The tEXt (or iTXt) chunk {@code key} of a PNG, or null when it has none. */
    public static String readText(Path path, String key) {
        try (InputStream in = Files.newInputStream(path); ImageInputStream iis = ImageIO.createImageInputStream(in)) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) throw new JDiffusionException(path + " is not an image");
            ImageReader reader = readers.next();
            try {
                if (!reader.getFormatName().equalsIgnoreCase("png")) {
                    throw new JDiffusionException(path + " is a " + reader.getFormatName()
                            + " image; generation parameters are read from PNG files");
                }
                reader.setInput(iis);
                IIOMetadataNode root = (IIOMetadataNode) reader.getImageMetadata(0).getAsTree(FORMAT);
                for (String chunk : new String[] {"tEXtEntry", "iTXtEntry"}) {
                    NodeList entries = root.getElementsByTagName(chunk);
                    for (int i = 0; i < entries.getLength(); i++) {
                        IIOMetadataNode e = (IIOMetadataNode) entries.item(i);
                        if (key.equals(e.getAttribute("keyword"))) {
                            return chunk.equals("tEXtEntry") ? e.getAttribute("value") : e.getAttribute("text");
                        }
                    }
                }
                return null;
            } finally {
                reader.dispose();
            }
        } catch (java.nio.file.NoSuchFileException e) {
            throw new JDiffusionException(path + ": file not found");
        } catch (IOException e) {
            throw new JDiffusionException(path + " cannot be read: " + e.getMessage(), e);
        }
    }
}
