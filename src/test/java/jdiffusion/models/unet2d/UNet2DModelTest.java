package jdiffusion.models.unet2d;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** UNet2DModel and the course's ClassConditionedUnet against diffusers 0.31 (unet2d_* golden cases). */
class UNet2DModelTest {
    private static final Map<String, UNet2DModel> MODELS = new HashMap<>();

    static UNet2DModel model(String golden) {
        return MODELS.computeIfAbsent(golden, k -> UNet2DModel.load(Golden.root().resolve(golden), ScalarType.Float, Tensors.CPU));
    }

    private static double rtol(Golden g) {
        return g.json.path("suggested_tolerance").path("rtol").asDouble(1e-4);
    }

    private static double atol(Golden g) {
        return g.json.path("suggested_tolerance").path("atol").asDouble(1e-5);
    }

    @Test
    void unconditionalMatchesDiffusers() {
        try (Golden g = Golden.open("unet2d_uncond")) {
            UNet2DModel unet = model(g.json.get("model").asText());
            try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            Tensor sample = g.tensor("sample");
            for (String[] c : new String[][] {{"timestep_scalar", "out_t_scalar"}, {"timestep_batch", "out_t_batch"},
                    {"timestep_float", "out_t_float"}}) {
                Golden.assertClose("unet2d_uncond " + c[1], unet.forward(sample, g.tensor(c[0]), null), g.tensor(c[1]),
                        rtol(g), atol(g));
            }
            }
        }
    }

    @Test
    void classEmbeddingMatchesDiffusers() {
        try (Golden g = Golden.open("unet2d_class_embeds")) {
            UNet2DModel unet = model(g.json.get("model").asText());
            try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            Tensor sample = g.tensor("sample");
            Tensor labels = g.tensor("class_labels");
            Golden.assertClose("unet2d_class_embeds batch", unet.forward(sample, g.tensor("timestep_batch"), labels),
                    g.tensor("out_t_batch"), rtol(g), atol(g));
            Golden.assertClose("unet2d_class_embeds scalar", unet.forward(sample, g.tensor("timestep_scalar"), labels),
                    g.tensor("out_t_scalar"), rtol(g), atol(g));
            }
        }
    }

    @Test
    void classConcatenationMatchesTheCourse() {
        try (Golden g = Golden.open("unet2d_class_concat")) {
            ClassConditionedUnet net = ClassConditionedUnet.load(Golden.root().resolve(g.json.get("model").asText()),
                    ScalarType.Float, Tensors.CPU);
            try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
                Tensor x = g.tensor("x");
                Tensor labels = g.tensor("class_labels");
                Golden.assertClose("class_emb.weight", ModuleTensors.namedTensors(net).get("class_emb.weight"),
                        g.tensor("class_emb_weight"), 0, 0);
                Golden.assertClose("net_input", net.netInput(x, labels), g.tensor("net_input"), 0, 0);
                Golden.assertClose("out", net.forward(x, g.tensor("timestep_batch"), labels), g.tensor("out"), rtol(g), atol(g));
            } finally {
                net.close();
            }
        }
    }

    /** named_parameters() of the built model is exactly the file's key set. */
    @ParameterizedTest
    @ValueSource(strings = {"ddpm-tiny-pipeline/unet", "unet2d-class-embeds-tiny", "unet2d-class-concat-tiny"})
    void parameterNamesAreTheCheckpointKeys(String name) {
        Path folder = Golden.model(name);
        UNet2DModel unet = new UNet2DModel(UNet2DConfig.fromJson(folder.resolve("config.json")));
        try (SafetensorsFile file = SafetensorsFile.open(folder.resolve("diffusion_pytorch_model.safetensors"))) {
            assertEquals(new TreeSet<>(file.names()), new TreeSet<>(ModuleTensors.namedTensors(unet).keySet()));
        } finally {
            unet.close();
        }
    }

    @Test
    void aLabelOutOfRangeIsAOneLineError() {
        UNet2DModel unet = model("models/unet2d-class-embeds-tiny");
        try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            Tensor sample = Tensors.fromFloats(new float[28 * 28], 1, 1, 28, 28);
            var e = assertThrows(JDiffusionException.class,
                    () -> unet.forward(sample, Tensors.fromLongs(new long[] {10}), Tensors.fromLongs(new long[] {10}, 1)));
            assertEquals("class label 10 is out of range: the model knows 10 classes, 0 to 9", e.getMessage());
            assertThrows(JDiffusionException.class, () -> unet.forward(sample, Tensors.fromLongs(new long[] {10}), null));
        }
    }

    @Test
    void theConfigRoundTripsAndRejectsUnsupportedKeys(@TempDir Path dir) throws Exception {
        UNet2DConfig config = UNet2DConfig.fromJson(Golden.model("unet2d-class-embeds-tiny").resolve("config.json"));
        Path file = dir.resolve("config.json");
        Files.writeString(file, config.toJson().toString());
        assertEquals(config, UNet2DConfig.fromJson(file));
        Files.writeString(file, config.toJson().put("time_embedding_type", "fourier").toString());
        var e = assertThrows(JDiffusionException.class, () -> UNet2DConfig.fromJson(file));
        assertTrue(e.getMessage().contains("time_embedding_type"), e.getMessage());
        var nonSquare = config.toJson();
        nonSquare.putArray("sample_size").add(16).add(24);
        Files.writeString(file, nonSquare.toString());
        assertEquals(java.util.List.of(16, 24), UNet2DConfig.fromJson(file).sampleSize());
    }

    /** Another layout (attention first, two layers, 4 groups, head size 4) on a non-square image. */
    @Test
    void otherLayoutsAndNonSquareSizesRun() {
        UNet2DConfig config = new UNet2DConfig(java.util.List.of(16, 24), 3, 3, false, "positional", 0, true,
                java.util.List.of("AttnDownBlock2D", "DownBlock2D"), java.util.List.of("UpBlock2D", "AttnUpBlock2D"),
                java.util.List.of(16, 32), 2, 1.0, 1, 0.0, "silu", 4, 4, null, 1e-5, true, null, null, null);
        UNet2DModel unet = UNet2DModel.createRandom(config, 7);
        try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
            Tensor out = unet.forward(new jdiffusion.tensor.TorchGenerator(1).randn(3, 3, 16, 24),
                    Tensors.fromLongs(new long[] {5, 500, 999}, 3), null);
            assertEquals("[3, 3, 16, 24]", Tensors.shapeString(out));
            assertTrue(Tensors.maxAbs(out) > 0);
        } finally {
            unet.close();
        }
    }
}
