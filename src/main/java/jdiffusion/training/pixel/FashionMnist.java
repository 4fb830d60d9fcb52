package jdiffusion.training.pixel;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.io.IdxFile;

/**
 * Fashion-MNIST (Xiao et al. 2017; Debian's {@code dataset-fashion-mnist} installs it in
 * {@code /usr/share/datasets/fashion-mnist}): 28x28 greyscale images of 10 clothing classes, 60,000 for
 * training and 10,000 for testing, as the original (optionally gzipped) IDX files.
 *
 * <pre>{@code
 * FashionMnist train = FashionMnist.load(Path.of("/usr/share/datasets/fashion-mnist"), true);
 * }</pre>
 *
 * @param images [N * 28 * 28] unsigned bytes, row-major
 * @param labels [N] class indices 0..9
 */
public record FashionMnist(int count, int height, int width, byte[] images, byte[] labels) {
    public static final Path DEBIAN_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    public static final int NUM_CLASSES = 10;
    /** The class names, in label order. */
    public static final String[] CLASS_NAMES = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
            "Sneaker", "Bag", "Ankle boot"};

    /** The training ({@code train-*}) or test ({@code t10k-*}) split of {@code dir}. */
    public static FashionMnist load(Path dir, boolean train) {
        if (!Files.isDirectory(dir)) {
            throw new JDiffusionException("--data " + dir + " is not a folder; Debian's dataset-fashion-mnist package puts the files in "
                    + DEBIAN_DIR);
        }
        String prefix = train ? "train" : "t10k";
        IdxFile images = IdxFile.read(find(dir, prefix + "-images-idx3-ubyte"));
        IdxFile labels = IdxFile.read(find(dir, prefix + "-labels-idx1-ubyte"));
        if (images.dims().length != 3) {
            throw new JDiffusionException(images.file() + " must hold [N, height, width] images, its IDX header has "
                    + images.dims().length + " dimensions");
        }
        if (labels.dims().length != 1) {
            throw new JDiffusionException(labels.file() + " must hold [N] labels, its IDX header has " + labels.dims().length + " dimensions");
        }
        if (labels.count() != images.count()) {
            throw new JDiffusionException(labels.file() + " holds " + labels.count() + " labels but " + images.file().getFileName()
                    + " holds " + images.count() + " images");
        }
        for (int i = 0; i < labels.count(); i++) {
            if (labels.get(i) >= NUM_CLASSES) {
                throw new JDiffusionException(labels.file() + ": label " + labels.get(i) + " at item " + i + " is not a class 0 to 9");
            }
        }
        return new FashionMnist(images.count(), images.dims()[1], images.dims()[2], images.data(), labels.data());
    }

    private static Path find(Path dir, String stem) {
        for (String name : new String[] {stem + ".gz", stem, stem.replace("-idx", ".idx")}) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) return p;
        }
        throw new JDiffusionException(dir + " has no " + stem + "(.gz): not a Fashion-MNIST folder");
    }

    /** {@code label} when it is a class (0-9), else a one-line error that starts with {@code what}. */
    public static int requireClass(int label, String what) {
        if (label < 0 || label >= NUM_CLASSES) {
            throw new JDiffusionException(what + " " + label + " is not a Fashion-MNIST class (0-" + (NUM_CLASSES - 1) + ")");
        }
        return label;
    }

    public int label(int i) {
        return labels[i];
    }

    /** Pixel (y, x) of image i, 0..255. */
    public int pixel(int i, int y, int x) {
        return images[(i * height + y) * width + x] & 0xff;
    }

    /** Image i as an 8-bit greyscale image. */
    public BufferedImage image(int i) {
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) out.getRaster().setSample(x, y, 0, pixel(i, y, x));
        }
        return out;
    }
}
