package jdiffusion.training.pixel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.tensor.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The classifier that scores class-conditioned samples learns from IDX data (mirrored images and
 * dropout in training, neither at inference), round-trips through its file, and refuses a file of
 * another shape (the first, smaller version's) in one line.
 */
class FashionClassifierTest {
    @TempDir
    Path dir;

    @Test
    void learnsTheClassesAndKeepsThemThroughItsFile() throws Exception {
        // each class a band of rows: mirroring left-right keeps the class, as it does Fashion-MNIST's
        FashionMnist train = FashionMnist.load(IdxFiles.fashionLike(dir.resolve("train"), "train", 600), true);
        FashionMnist test = FashionMnist.load(IdxFiles.fashionLike(dir.resolve("test"), "t10k", 200), false);
        try (FashionClassifier net = FashionClassifier.train(train, 2, 0)) {
            double accuracy = net.accuracy(test);
            assertTrue(accuracy >= 0.95, "test accuracy " + accuracy);
            // inference has no dropout: the same images give the same answer twice
            assertEquals(accuracy, net.accuracy(test));
            Path file = dir.resolve("classifier.safetensors");
            net.save(file);
            try (FashionClassifier loaded = FashionClassifier.load(file)) {
                assertEquals(accuracy, loaded.accuracy(test));
            }
        }
    }

    @Test
    void aFileOfAnotherShapeIsRefusedInOneLine() {
        // the first version's layers: conv1 [16, 1, 3, 3], conv2 [32, 16, 3, 3], fc [10, 1568]
        Path old = dir.resolve("old.safetensors");
        SafetensorsWriter.write(old, Map.of(
                "conv1.weight", Tensors.fromFloats(new float[16 * 9], 16, 1, 3, 3), "conv1.bias", Tensors.fromFloats(new float[16], 16),
                "conv2.weight", Tensors.fromFloats(new float[32 * 16 * 9], 32, 16, 3, 3), "conv2.bias", Tensors.fromFloats(new float[32], 32),
                "fc.weight", Tensors.fromFloats(new float[10 * 1568], 10, 1568), "fc.bias", Tensors.fromFloats(new float[10], 10)),
                Map.of("format", "pt"));
        JDiffusionException e = assertThrows(JDiffusionException.class, () -> FashionClassifier.load(old));
        assertTrue(!e.getMessage().contains("\n") && e.getMessage().contains("old.safetensors")
                && e.getMessage().contains("conv1.weight"), e.getMessage());
    }
}
