package jdiffusion.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import jdiffusion.Golden;
import org.junit.jupiter.api.Test;

/** TorchGenerator reproduces torch.manual_seed + torch.randn/rand/randint from Python on CPU. */
class TorchGeneratorTest {
    @Test
    void matchesTorch() {
        try (Golden golden = Golden.open("torch_rng")) {
            Golden.assertClose("randn_0", new TorchGenerator(0).randn(4), golden.tensor("randn_0"), 0, 0);
            Golden.assertClose("randn_1", new TorchGenerator(0).randn(16), golden.tensor("randn_1"), 0, 0);
            Golden.assertClose("randn_2", new TorchGenerator(0).randn(17), golden.tensor("randn_2"), 0, 1e-6);
            Golden.assertClose("randn_3", new TorchGenerator(0).randn(1, 4, 8, 8), golden.tensor("randn_3"), 0, 1e-6);
            Golden.assertClose("randn_4", new TorchGenerator(42).randn(2, 4, 16, 24), golden.tensor("randn_4"), 0, 1e-6);
            Golden.assertClose("randn_5", new TorchGenerator(1234).randn(3, 5), golden.tensor("randn_5"), 0, 0);
            Golden.assertClose("randn_6", new TorchGenerator(4294967303L).randn(1, 4, 16, 16),
                    golden.tensor("randn_6"), 0, 1e-6);
            TorchGenerator g = new TorchGenerator(5);
            for (int i = 0; i < 3; i++) {
                Golden.assertClose("seq_randn_" + i, g.randn(1, 4, 8, 8), golden.tensor("seq_randn_" + i), 0, 1e-6);
            }
            Golden.assertClose("rand_0", new TorchGenerator(6).rand(2, 3, 4, 4), golden.tensor("rand_0"), 0, 0);
            assertArrayEquals(Tensors.toLongs(golden.tensor("randint_0")),
                    Tensors.toLongs(new TorchGenerator(7).randint(0, 1000, 8)));
        }
    }
}
