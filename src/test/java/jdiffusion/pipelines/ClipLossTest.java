package jdiffusion.pipelines;

import jdiffusion.Golden;
import jdiffusion.models.clip.CLIPVisionModelWithProjection;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** The course's CLIP guidance loss and its gradient with respect to the image (golden clip_guidance_loss). */
class ClipLossTest {
    @Test
    void lossAndGradientMatchTheCourse() {
        try (Golden g = Golden.open("clip_guidance_loss")) {
            var clip = CLIPVisionModelWithProjection.load(Golden.root().resolve(g.json.get("model").asText()), ScalarType.Float, Tensors.CPU);
            try (var scope = new PointerScope()) {
                ClipLoss loss = new ClipLoss(clip, g.tensor("text_features"));
                Tensor image = g.tensor("image").requires_grad_(true);
                Golden.assertClose("image_features", loss.imageFeatures(image), g.tensor("image_features"), 1e-4, 1e-6);
                Golden.assertClose("dists", loss.distances(image), g.tensor("dists"), 1e-4, 1e-6);
                Tensor l = loss.apply(image);
                Golden.assertClose("loss", l.reshape(-1), g.tensor("loss").reshape(-1), 1e-4, 1e-6);
                Tensor grad = torch.grad(new TensorVector(l), new TensorVector(image)).get(0);
                Golden.assertClose("grad", grad, g.tensor("grad"), 1e-3, 1e-9);
            } finally {
                clip.close();
            }
        }
    }
}
