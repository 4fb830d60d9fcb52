package jdiffusion.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/** The handles namedTensors returns stay valid after the libtorch dictionary they came from is gone. */
class NamedTensorsTest {
    @Test
    void tensorsOutliveTheDictionary() throws InterruptedException {
        Module module = new Module();
        LinearImpl linear = module.register_module("linear", new LinearImpl(64, 64));
        Map<String, Tensor> tensors = ModuleTensors.namedTensors(module);
        // collect the item vector namedTensors read from, and reuse its memory
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(20);
            for (int j = 0; j < 1000; j++) new LinearImpl(8, 8).close();
        }
        try (NoGradGuard noGrad = new NoGradGuard()) {
            tensors.get("linear.weight").fill_(new Scalar(3.0));
        }
        assertEquals(3.0, Tensors.maxAbs(linear.weight()));
        assertEquals("[64, 64]", Tensors.shapeString(tensors.get("linear.weight")));
    }
}
