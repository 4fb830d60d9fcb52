package jdiffusion.models.dpt;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.Golden;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** transformers' DPTImageProcessor and DPTForDepthEstimation (hybrid) against the reference outputs. */
class DPTGoldenTest {
    @Test
    void imageProcessorResizesLikePillowAndNormalisesLikeTransformers() {
        DPTImageProcessor processor = DPTImageProcessor.fromJson(Golden.model("dpt-hybrid-tiny").resolve("preprocessor_config.json"));
        try (Golden g = Golden.open("dpt_image_processor"); PointerScope scope = new PointerScope()) {
            List<BufferedImage> images = new ArrayList<>();
            for (int k = 0; k < 2; k++) {
                BufferedImage image = image(g.tensor("image" + k));
                images.add(image);
                // Pillow's bilinear resize on uint8: exact
                Golden.assertClose("image" + k + "_resized", pixels(processor.resize(image)),
                        g.tensor("image" + k + "_resized").to(ScalarType.Float), 0, 0);
            }
            Golden.assertClose("pixel_values", processor.preprocess(images), g.tensor("pixel_values"), 0, 1e-5);
        }
    }

    @Test
    void depthAndEveryIntermediateMatchTransformers() {
        DPTForDepthEstimation dpt = DPTForDepthEstimation.load(Golden.model("dpt-hybrid-tiny"), ScalarType.Float, Tensors.CPU);
        try (Golden g = Golden.open("dpt_hybrid_depth"); PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            DepthEstimatorOutput out = dpt.forward(g.tensor("pixel_values"));
            for (int k = 1; k <= 3; k++) {
                Golden.assertClose("bit_stage" + k, out.backboneFeatures().get(k - 1), g.tensor("bit_stage" + k), 1e-4, 1e-5);
            }
            assertEquals(dpt.config().numHiddenLayers() + 1, out.hiddenStates().size());
            for (int i = 0; i < out.hiddenStates().size(); i++) {
                Golden.assertClose("vit_hidden_states_" + i, out.hiddenStates().get(i), g.tensor("vit_hidden_states_" + i), 1e-4, 1e-5);
            }
            Golden.assertClose("predicted_depth", out.predictedDepth(), g.tensor("predicted_depth"), 1e-4, 1e-5);
        } finally {
            dpt.close();
        }
    }

    /** A uint8 [H, W, 3] tensor as an RGB image. */
    static BufferedImage image(Tensor hwc) {
        long h = hwc.size(0), w = hwc.size(1);
        float[] v = Tensors.toFloats(hwc.to(ScalarType.Float));
        BufferedImage img = new BufferedImage((int) w, (int) h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = (int) ((y * w + x) * 3);
                img.setRGB(x, y, ((int) v[i] << 16) | ((int) v[i + 1] << 8) | (int) v[i + 2]);
            }
        }
        return img;
    }

    /** An RGB image as a float [H, W, 3] tensor of its 8-bit values. */
    static Tensor pixels(BufferedImage img) {
        int h = img.getHeight(), w = img.getWidth();
        float[] v = new float[h * w * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                int i = (y * w + x) * 3;
                v[i] = (rgb >> 16) & 0xff;
                v[i + 1] = (rgb >> 8) & 0xff;
                v[i + 2] = rgb & 0xff;
            }
        }
        return Tensors.fromFloats(v, h, w, 3);
    }
}
