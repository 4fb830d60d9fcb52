package jdiffusion.tools.shapes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/** The VAE's edge-weighted loss term looks at the outline of a shape and nowhere else. */
class EdgeMaskTest {
    @Test
    void marksTheTwoPixelBandAroundAShapeOutline() {
        int n = 16;
        float[] px = new float[3 * n * n];
        java.util.Arrays.fill(px, -1f);                       // black background
        for (int y = 4; y < 10; y++) {
            for (int x = 4; x < 10; x++) px[2 * n * n + y * n + x] = 1f; // a blue square, rows/cols 4..9
        }
        Tensor images = Tensors.fromFloats(px, 1, 3, n, n);
        float[] mask = Tensors.toFloats(TinyShapesRecipe.edgeMask(images));
        assertEquals(n * n, mask.length);
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                // a pixel is an edge when its 3x3 window holds both colours: the square's border ring
                // inside (4 and 9) and the ring just outside it (3 and 10)
                boolean nearSquare = y >= 3 && y <= 10 && x >= 3 && x <= 10;
                boolean deepInside = y >= 5 && y <= 8 && x >= 5 && x <= 8;
                float expected = nearSquare && !deepInside ? 1f : 0f;
                assertEquals(expected, mask[y * n + x], "pixel (" + x + ", " + y + ")");
            }
        }
    }
}
