package jdiffusion.models.clip;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.Golden;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** CLIPImageProcessor against transformers 4.47: the PIL bicubic resize exactly, pixel_values to 1e-5. */
class CLIPImageProcessorTest {
    static BufferedImage image(Tensor hwc) {
        long[] s = Tensors.shape(hwc);
        long[] v = Tensors.toLongs(hwc.to(ScalarType.Long));
        BufferedImage img = new BufferedImage((int) s[1], (int) s[0], BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < s[0]; y++) {
            for (int x = 0; x < s[1]; x++) {
                int i = (int) ((y * s[1] + x) * 3);
                img.setRGB(x, y, (int) (v[i] << 16 | v[i + 1] << 8 | v[i + 2]));
            }
        }
        return img;
    }

    @Test
    void matchesTransformers() {
        try (Golden g = Golden.open("clip_image_processor")) {
            var processor = CLIPImageProcessor.fromJson(Golden.root().resolve(g.json.get("processor_config").asText()));
            List<BufferedImage> images = new ArrayList<>();
            for (int k = 0; k < 2; k++) {
                BufferedImage img = image(g.tensor("image" + k));
                images.add(img);
                BufferedImage resized = processor.resize(img);
                BufferedImage expected = image(g.tensor("image" + k + "_resized"));
                assertEquals(expected.getWidth(), resized.getWidth());
                assertEquals(expected.getHeight(), resized.getHeight());
                int differing = 0;
                for (int y = 0; y < expected.getHeight(); y++) {
                    for (int x = 0; x < expected.getWidth(); x++) if (expected.getRGB(x, y) != resized.getRGB(x, y)) differing++;
                }
                assertEquals(0, differing, "image" + k + ": pixels differing from PIL's bicubic resize");
            }
            Golden.assertClose("pixel_values", processor.preprocess(images), g.tensor("pixel_values"), 0, 1e-5);
        }
    }
}
