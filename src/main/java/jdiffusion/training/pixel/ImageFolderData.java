package jdiffusion.training.pixel;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.dreambooth.DreamBoothConfig;
import jdiffusion.training.dreambooth.ImageTransforms;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The images of a folder as the course's fine-tuning notebook prepares them: {@code Resize((n, n))}
 * (bilinear), {@code RandomHorizontalFlip}, {@code ToTensor}, {@code Normalize([0.5], [0.5])} - held
 * in memory as one [N, C, n, n] tensor in [-1, 1] (C = 3, or 1 for a greyscale model: PIL's "L").
 * Batches are drawn with replacement from a step's generator, so a resumed run sees the same batches.
 */
public final class ImageFolderData {
    private final Tensor images; // [N, C, n, n] in [-1, 1]

    public ImageFolderData(Path dir, int resolution, int channels) {
        if (resolution < 8 || resolution > 4096) throw new JDiffusionException("--resolution must be 8 to 4096, got " + resolution);
        if (channels != 1 && channels != 3) throw new JDiffusionException("images must have 1 or 3 channels, the model wants " + channels);
        List<Path> files = DreamBoothConfig.imageFiles(dir);
        if (files.isEmpty()) {
            throw new JDiffusionException("--data " + dir + " holds no images (.png, .jpg, .bmp, .gif)");
        }
        float[] all = new float[files.size() * channels * resolution * resolution];
        int plane = resolution * resolution;
        for (int n = 0; n < files.size(); n++) {
            BufferedImage img = ImageTransforms.resizeBilinear(Images.read(files.get(n)), resolution, resolution);
            for (int y = 0; y < resolution; y++) {
                for (int x = 0; x < resolution; x++) {
                    int rgb = img.getRGB(x, y);
                    int i = n * channels * plane + y * resolution + x;
                    if (channels == 1) {
                        all[i] = luma(rgb) / 255f * 2f - 1f;
                    } else {
                        all[i] = ((rgb >> 16) & 0xff) / 255f * 2f - 1f;
                        all[plane + i] = ((rgb >> 8) & 0xff) / 255f * 2f - 1f;
                        all[2 * plane + i] = (rgb & 0xff) / 255f * 2f - 1f;
                    }
                }
            }
        }
        images = Tensors.fromFloats(all, files.size(), channels, resolution, resolution);
    }

    /** PIL's "L": ITU-R 601-2 luma, rounded as PIL does. */
    private static int luma(int rgb) {
        return (((rgb >> 16) & 0xff) * 19595 + ((rgb >> 8) & 0xff) * 38470 + (rgb & 0xff) * 7471 + 0x8000) >> 16;
    }

    public int size() {
        return (int) images.size(0);
    }

    /** {@code batch} images drawn with replacement, each flipped left-right with probability 1/2. */
    public Tensor batch(int batch, TorchGenerator rng) {
        Tensor idx = rng.randint(0, size(), batch);
        Tensor picked = images.index_select(0, idx);
        Tensor flip = rng.rand(batch).lt(new org.bytedeco.pytorch.Scalar(0.5)).view(batch, 1, 1, 1);
        return torch.where(flip, picked.flip(3), picked);
    }
}
