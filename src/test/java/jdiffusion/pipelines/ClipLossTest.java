package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /** Random cuts: the same seed gives the same loss, the loss stays differentiable, and one cut is the golden form. */
    @Test
    void theViewsRotationIsExactOnTheGridAndCarriesTheGradient() {
        try (PointerScope scope = new PointerScope()) {
            Tensor x = Tensors.fromFloats(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 1, 1, 4, 4);
            assertEquals(0.0, Tensors.maxAbsDiff(x, ClipLoss.rotate(x, 0)), "0 degrees");
            // a quarter turn maps pixel centres onto pixel centres: a permutation, one way or the other
            Tensor quarter = ClipLoss.rotate(x, 90);
            double left = Tensors.maxAbsDiff(quarter, torch.rot90(x, 1, new long[] {2, 3}));
            double right = Tensors.maxAbsDiff(quarter, torch.rot90(x, -1, new long[] {2, 3}));
            assertEquals(0.0, Math.min(left, right), "90 degrees");
            // 5 degrees moves some pixels, and d(sum of a weighted image)/dx reaches the input
            Tensor xg = torch.rand(new long[] {1, 3, 16, 16}).requires_grad_(true);
            Tensor turned = ClipLoss.rotate(xg, 5);
            assertTrue(Tensors.maxAbsDiff(turned.detach(), xg.detach()) > 0);
            Tensor grad = torch.grad(new TensorVector(turned.mul(turned).sum()), new TensorVector(xg)).get(0);
            assertTrue(grad.abs().sum().item_double() > 0, "gradient through the rotation");
        }
    }

    @Test
    void randomCutsAreSeededAndDifferentiable() {
        try (Golden g = Golden.open("clip_guidance_loss")) {
            var clip = CLIPVisionModelWithProjection.load(Golden.root().resolve(g.json.get("model").asText()), ScalarType.Float, Tensors.CPU);
            try (var scope = new PointerScope()) {
                ClipLoss whole = new ClipLoss(clip, g.tensor("text_features"));
                Tensor image = g.tensor("image").requires_grad_(true);
                double a = whole.withCuts(4, 11).apply(image).item_double();
                double b = whole.withCuts(4, 11).apply(image).item_double();
                double c = whole.withCuts(4, 12).apply(image).item_double();
                assertEquals(a, b);
                org.junit.jupiter.api.Assertions.assertNotEquals(a, c);
                Tensor grad = torch.grad(new TensorVector(whole.withCuts(4, 11).apply(image)), new TensorVector(image)).get(0);
                assertTrue(Tensors.maxAbs(grad) > 0);
                Golden.assertClose("one cut = golden loss", whole.withCuts(1, 0).apply(image).reshape(-1), g.tensor("loss").reshape(-1), 1e-4, 1e-6);
            } finally {
                clip.close();
            }
        }
    }
}
