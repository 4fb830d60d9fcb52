package jdiffusion.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.Golden;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.WeightLoader;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The UNet and VAE built from a single file's detected configs and loaded from its state dicts compute as diffusers does. */
class SingleFileModelsTest {
    @TempDir
    Path dir;

    /** The config records read files; hand them the detected config as one. */
    private Path configFile(String name, ObjectNode config) throws IOException {
        Path file = Files.createDirectories(dir.resolve(name)).resolve("config.json");
        Files.writeString(file, config.toString());
        return file;
    }

    @ParameterizedTest(name = "{0} via {1}")
    @CsvSource({
        "unet_sd1_t999,     sd1-tiny-pipeline, ''",
        "unet_inpaint_t10,  unet-sd1-inpaint,  ''",
        "unet_depth_tfloat, unet-sd2-depth,    ''",
        // The SD2 UNet again, from a file without our metadata: the heads come from the original YAML.
        "unet_sd2_tbatch,   unet-sd2,          yaml",
    })
    void unetFromASingleFileMatchesDiffusers(String goldenCase, String model, String via) throws IOException {
        Path file = dir.resolve(model + ".safetensors");
        SingleFileExport.write(Golden.model(model), file, null);
        SingleFileCheckpoint.Options options = SingleFileCheckpoint.Options.DEFAULT;
        if (via.equals("yaml")) {
            file = SingleFileCheckpointTest.stripMetadata(file, dir.resolve(model + "-bare.safetensors"));
            String yaml = SingleFileCheckpointTest.TINY_V2_YAML.replace("channel_mult: [ 1, 2 ]", "channel_mult: [ 1, 2, 2 ]")
                    .replace("num_res_blocks: 1", "num_res_blocks: 2");
            options = new SingleFileCheckpoint.Options(null, Files.writeString(dir.resolve("v2.yaml"), yaml));
        }
        UNet2DConditionModel unet;
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file, options)) {
            unet = new UNet2DConditionModel(UNet2DConditionConfig.fromJson(configFile(model, ckpt.unetConfig())));
            try (PointerScope scope = new PointerScope()) {
                WeightLoader.load(unet, ckpt.unet(), "UNet from " + file.getFileName());
            }
        }
        try (Golden g = Golden.open(goldenCase); PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor out = unet.forward(g.tensor("sample"), g.tensor("timestep"), g.tensor("encoder_hidden_states"));
            Golden.assertClose(goldenCase + " via single file", out, g.tensor("out_sample"), 1e-4, 0);
        } finally {
            unet.close();
        }
    }

    @Test
    void vaeFromASingleFileDecodesAsTheFolders() throws IOException {
        Path file = dir.resolve("sd1.safetensors");
        SingleFileExport.write(Golden.model("sd1-tiny-pipeline"), file, null);
        AutoencoderKL fromFile;
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            fromFile = new AutoencoderKL(AutoencoderKLConfig.fromJson(configFile("vae", ckpt.vaeConfig())));
            // the loading path every model takes (weights, then the inference layout)
            jdiffusion.models.ModelLoading.loadWeights(fromFile, ckpt.vae(), ScalarType.Float, Tensors.CPU,
                    "VAE from " + file.getFileName());
        }
        AutoencoderKL fromFolder = AutoencoderKL.load(Golden.model("sd1-tiny-pipeline/vae"), ScalarType.Float, Tensors.CPU);
        try (Golden g = Golden.open("vae"); PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor decoded = fromFile.decode(g.tensor("latents"));
            assertEquals(0.0, Tensors.maxAbsDiff(fromFolder.decode(g.tensor("latents")), decoded));
            Golden.assertClose("vae decode via single file", decoded, g.tensor("decoded"), 1e-4, 0);
            Golden.assertClose("vae encode mean via single file", fromFile.encode(g.tensor("image")).mean(),
                    g.tensor("latent_mean"), 1e-4, 0);
        } finally {
            fromFile.close();
            fromFolder.close();
        }
    }
}
