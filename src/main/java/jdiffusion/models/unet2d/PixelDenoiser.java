package jdiffusion.models.unet2d;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A pixel-space noise predictor, what DDPMPipeline/DDIMPipeline call {@code unet}: diffusers'
 * {@link UNet2DModel} (unconditional or with its own class embedding) or the course's
 * {@link ClassConditionedUnet}. One call shape, so pipelines, training and guidance take either.
 */
public sealed interface PixelDenoiser extends AutoCloseable permits UNet2DModel, ClassConditionedUnet {
    /** The class label of "no class": the unconditional prediction of a net that {@link #learnsNoClass}. */
    long NO_CLASS = -1;

    /** x [B, C, H, W], t 0-dim or [B], classLabels [B] int64 or null -> noise prediction [B, C, H, W]. */
    Tensor forward(Tensor x, Tensor t, Tensor classLabels);

    /** Channels of the images it denoises. */
    int imageChannels();

    /** The size it was trained at, [height, width] (diffusers' sample_size). */
    List<Integer> sampleSize();

    /** Number of class labels it takes (0: unconditional, no labels). */
    int numClasses();

    /** Whether it was trained to take {@link #NO_CLASS} too (class dropout), so classifier-free guidance applies. */
    default boolean learnsNoClass() {
        return false;
    }

    /** Its parameters live in this module tree (for training and saving). */
    org.bytedeco.pytorch.Module module();

    @Override
    void close();

    /**
     * A UNet folder: a diffusers {@code UNet2DModel} folder, or with {@code class_emb.safetensors}
     * next to it the course's class-concatenating net.
     */
    static PixelDenoiser load(Path unetFolder, ScalarType dtype, Device device) {
        return Files.isRegularFile(unetFolder.resolve(ClassConditionedUnet.CLASS_EMB_FILE))
                ? ClassConditionedUnet.load(unetFolder, dtype, device)
                : UNet2DModel.load(unetFolder, dtype, device);
    }
}
