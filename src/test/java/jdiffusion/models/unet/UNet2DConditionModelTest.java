package jdiffusion.models.unet;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import jdiffusion.Golden;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** UNet2DConditionModel against diffusers 0.31 on the 16 unet_* golden cases. */
class UNet2DConditionModelTest {
    private static final String WEIGHTS = "diffusion_pytorch_model.safetensors";

    /** Loaded once per (model, dtype); models live outside every PointerScope. */
    private static final Map<String, UNet2DConditionModel> MODELS = new HashMap<>();

    static UNet2DConditionModel model(String golden, ScalarType dtype) {
        return MODELS.computeIfAbsent(golden + "/" + dtype,
                k -> UNet2DConditionModel.load(Golden.root().resolve(golden), dtype, Tensors.CPU));
    }

    /** Runs one case and returns max|out - ref| / max|ref|, asserting {@code rtol}. */
    static double run(String caseName, ScalarType dtype, double rtol) {
        try (Golden g = Golden.open(caseName)) {
            UNet2DConditionModel unet = model(g.json.get("model").asText(), dtype);
            try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
                Tensor out = unet.forward(g.tensor("sample"), g.tensor("timestep"), g.tensor("encoder_hidden_states"));
                return Golden.assertClose(caseName + " " + dtype, out, g.tensor("out_sample"), rtol, 0);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "unet_sd1_t999", "unet_sd1_t10", "unet_sd1_tfloat", "unet_sd1_tbatch",
            "unet_sd2_t999", "unet_sd2_t10", "unet_sd2_tfloat", "unet_sd2_tbatch",
            "unet_inpaint_t999", "unet_inpaint_t10", "unet_inpaint_tfloat", "unet_inpaint_tbatch",
            "unet_depth_t999", "unet_depth_t10", "unet_depth_tfloat", "unet_depth_tbatch"})
    void matchesDiffusersInFloat32(String caseName) {
        run(caseName, ScalarType.Float, jdiffusion.Tolerances.FP32_NETWORK);
    }

    @ParameterizedTest
    @ValueSource(strings = {"unet_sd1_t999", "unet_sd2_tfloat", "unet_inpaint_t10", "unet_depth_tbatch"})
    void matchesDiffusersInBFloat16(String caseName) {
        run(caseName, ScalarType.BFloat16, jdiffusion.Tolerances.BF16_NETWORK);
    }

    /** named_parameters() of the built model is exactly the file's key set, for every golden UNet. */
    @ParameterizedTest
    @ValueSource(strings = {"sd1-tiny-pipeline/unet", "unet-sd2", "unet-sd1-inpaint", "unet-sd2-depth",
            "sd2-tiny-pipeline/unet"})
    void parameterNamesAreTheCheckpointKeys(String name) {
        Path folder = Golden.model(name);
        UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.fromJson(folder.resolve("config.json")));
        try (SafetensorsFile file = SafetensorsFile.open(folder.resolve(WEIGHTS))) {
            assertEquals(new TreeSet<>(file.names()), new TreeSet<>(ModuleTensors.namedTensors(unet).keySet()));
        }
    }

    /**
     * Java-side modules are JavaCPP virtual adapters that libtorch calls back; if a child's Java
     * object were collected, eval()/to() on the root would fail in native code. Pin that it is not.
     */
    @Test
    void survivesGarbageCollection() throws InterruptedException {
        UNet2DConditionModel unet = new UNet2DConditionModel(
                UNet2DConditionConfig.fromJson(Golden.model("unet-sd2").resolve("config.json")));
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        unet.eval();
        unet.to(ScalarType.Double, false);
        // compare .value: JavaCPP returns fresh ScalarType objects, so == and equals() fail
        assertEquals(ScalarType.Double.value, ModuleTensors.namedTensors(unet).get("conv_in.weight").scalar_type().value);
    }

    /** 15x17 latents are not multiples of 2^upsamplers: the up path takes the skip connections' sizes. */
    @Test
    void oddLatentSizes() {
        UNet2DConditionModel unet = model("models/sd1-tiny-pipeline/unet", ScalarType.Float);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor out = unet.forward(torch.randn(1, 4, 15, 17), Tensors.fromLongs(new long[] {1}), torch.randn(1, 77, 32));
            assertEquals("[1, 4, 15, 17]", Tensors.shapeString(out));
        }
    }

    @Test
    void loadsTheSd2PipelineUnet() {
        // two blocks, layers_per_block 1, heads [2, 4]: a second shape of the up-path bookkeeping
        UNet2DConditionModel unet = UNet2DConditionModel.load(Golden.model("sd2-tiny-pipeline/unet"), ScalarType.Float, Tensors.CPU);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor out = unet.forward(torch.randn(2, 4, 16, 24),
                    Tensors.fromLongs(new long[] {500}), torch.randn(2, 77, 32));
            assertEquals("[2, 4, 16, 24]", Tensors.shapeString(out));
        }
    }
}
