package jdiffusion.tools.shapes;

import java.util.List;
import org.bytedeco.pytorch.Tensor;

/**
 * A training batch: {@code images} is {@code [B, 3, 64, 64]} float32 in [-1, 1] (diffusers' pixel
 * convention, ready for the VAE encoder), {@code captions.get(i)} describes image i. Closing the
 * batch frees the image tensor.
 */
public record Batch(Tensor images, List<String> captions, List<ShapeScene> scenes) implements AutoCloseable {
    public Batch {
        captions = List.copyOf(captions);
        scenes = List.copyOf(scenes);
    }

    public int size() {
        return captions.size();
    }

    @Override
    public void close() {
        images.close();
    }
}
