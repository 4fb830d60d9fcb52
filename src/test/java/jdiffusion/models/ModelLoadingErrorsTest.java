package jdiffusion.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Wrong weights and wrong config files give one clear JDiffusionException naming the problem. */
class ModelLoadingErrorsTest {
    private static final String WEIGHTS = "diffusion_pytorch_model.safetensors";

    @TempDir
    Path tmp;

    /** A copy of a golden component folder whose weights went through {@code edit}. */
    private Path editedCopy(String model, Consumer<Map<String, Tensor>> edit) throws IOException {
        Path source = Golden.model(model);
        Path folder = Files.createDirectories(tmp.resolve("component"));
        Files.copy(source.resolve("config.json"), folder.resolve("config.json"));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile file = SafetensorsFile.open(source.resolve(WEIGHTS))) {
            for (String name : file.names()) tensors.put(name, file.load(name));
        }
        edit.accept(tensors);
        SafetensorsWriter.write(folder.resolve(WEIGHTS), tensors);
        return folder;
    }

    private static String unetLoadError(Path folder) {
        return assertThrows(JDiffusionException.class,
                () -> UNet2DConditionModel.load(folder, ScalarType.Float, Tensors.CPU)).getMessage();
    }

    private static void assertMentions(String message, String... parts) {
        System.out.println(message);
        for (String p : parts) assertTrue(message.contains(p), "message lacks '" + p + "':\n" + message);
    }

    @Test
    void renamedTensorIsReportedMissingAndUnexpected() throws IOException {
        Path folder = editedCopy("sd1-tiny-pipeline/unet",
                t -> t.put("conv_in.weights", t.remove("conv_in.weight")));
        assertMentions(unetLoadError(folder), "missing (1): conv_in.weight", "unexpected (1): conv_in.weights",
                folder.resolve(WEIGHTS).toString());
    }

    @Test
    void droppedTensorIsReportedMissing() throws IOException {
        String key = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight";
        Path folder = editedCopy("sd1-tiny-pipeline/unet", t -> t.remove(key));
        String message = unetLoadError(folder);
        assertMentions(message, "missing (1): " + key);
        assertTrue(!message.contains("unexpected"), message);
    }

    @Test
    void reshapedTensorIsReportedWithBothShapes() throws IOException {
        Path folder = editedCopy("sd1-tiny-pipeline/unet", t -> t.put("conv_out.weight", torch.zeros(4, 32, 1, 1)));
        assertMentions(unetLoadError(folder),
                "wrong shape (1): conv_out.weight: file has [4, 32, 1, 1], the model expects [4, 32, 3, 3]");
    }

    @Test
    void weightsOfAnotherUnetAreRejected() throws IOException {
        // SD2 weights (linear proj_in [C, C]) under the SD1 config (1x1 conv proj_in [C, C, 1, 1])
        Path folder = Files.createDirectories(tmp.resolve("mixed"));
        Files.copy(Golden.model("sd1-tiny-pipeline/unet").resolve("config.json"), folder.resolve("config.json"));
        Files.copy(Golden.model("unet-sd2").resolve(WEIGHTS), folder.resolve(WEIGHTS));
        assertMentions(unetLoadError(folder), "wrong shape", "proj_in.weight: file has [32, 32], the model expects [32, 32, 1, 1]");
    }

    /** Old Hub VAEs name the mid-block attention query/key/value/proj_attn; they load and compute the same. */
    @Test
    void legacyVaeAttentionNamesLoad() throws IOException {
        String prefix = "decoder.mid_block.attentions.0.";
        Path folder = editedCopy("sd1-tiny-pipeline/vae", t -> {
            for (String[] r : new String[][] {{"to_q", "query"}, {"to_k", "key"}, {"to_v", "value"}, {"to_out.0", "proj_attn"}}) {
                for (String kind : new String[] {"weight", "bias"}) {
                    t.put(prefix + r[1] + "." + kind, t.remove(prefix + r[0] + "." + kind));
                }
            }
        });
        AutoencoderKL legacy = AutoencoderKL.load(folder, ScalarType.Float, Tensors.CPU);
        AutoencoderKL current = AutoencoderKL.load(Golden.model("sd1-tiny-pipeline/vae"), ScalarType.Float, Tensors.CPU);
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Tensor z = torch.randn(1, 4, 8, 8);
            assertEquals(0.0, Tensors.maxAbsDiff(legacy.decode(z), current.decode(z)));
        }
    }

    @Test
    void missingWeightsFile() throws IOException {
        Path folder = Files.createDirectories(tmp.resolve("unet"));
        Files.copy(Golden.model("unet-sd2").resolve("config.json"), folder.resolve("config.json"));
        assertMentions(unetLoadError(folder), folder.toString(), "has no weights (expected diffusion_pytorch_model.safetensors");
    }

    // ---- config.json ----

    private Path writeConfig(String json) throws IOException {
        Path file = tmp.resolve("config.json");
        Files.writeString(file, json);
        return file;
    }

    /** The SD1 tiny UNet config with {@code from} replaced by {@code to}. */
    private Path unetConfigWith(String from, String to) throws IOException {
        String json = Files.readString(Golden.model("sd1-tiny-pipeline/unet").resolve("config.json"));
        assertTrue(json.contains(from), from);
        return writeConfig(json.replace(from, to));
    }

    private static String unetConfigError(Path file) {
        return assertThrows(JDiffusionException.class, () -> UNet2DConditionConfig.fromJson(file)).getMessage();
    }

    @Test
    void missingConfig() throws IOException {
        Path folder = Files.createDirectories(tmp.resolve("noconfig"));
        Files.copy(Golden.model("unet-sd2").resolve(WEIGHTS), folder.resolve(WEIGHTS));
        assertMentions(unetLoadError(folder), folder.resolve("config.json").toString(), "does not exist");
    }

    @Test
    void malformedConfig() throws IOException {
        Path file = writeConfig("{\"in_channels\": 4, \"block_out_channels\": [32, 64,");
        assertMentions(unetConfigError(file), file.toString(), "is not valid JSON");
        assertMentions(unetConfigError(writeConfig("[1, 2]")), "must hold a JSON object");
    }

    @Test
    void unknownBlockType() throws IOException {
        Path file = unetConfigWith("\"DownBlock2D\"", "\"SimpleCrossAttnDownBlock2D\"");
        assertMentions(unetConfigError(file), file.toString(), "down_block_types", "unknown block type \"SimpleCrossAttnDownBlock2D\"");
    }

    @Test
    void unsupportedFeatureAndWrongTypes() throws IOException {
        assertMentions(unetConfigError(unetConfigWith("\"class_embed_type\": null", "\"class_embed_type\": \"timestep\"")),
                "'class_embed_type' is \"timestep\"", "supports only null");
        assertMentions(unetConfigError(unetConfigWith("\"num_attention_heads\": null", "\"num_attention_heads\": 8")),
                "'num_attention_heads' must be null", "attention_head_dim");
        assertMentions(unetConfigError(unetConfigWith("\"attention_head_dim\": 8", "\"attention_head_dim\": [8, 8]")),
                "'attention_head_dim' has 2 entries", "3 down blocks");
        assertMentions(unetConfigError(unetConfigWith("\"in_channels\": 4", "\"in_channels\": \"four\"")),
                "'in_channels' must be an integer");
        assertMentions(unetConfigError(unetConfigWith("\"attention_head_dim\": 8", "\"attention_head_dim\": 5")),
                "'attention_head_dim'", "must divide block_out_channels 32");
    }

    @Test
    void configOfAnotherComponent() {
        Path vaeConfig = Golden.model("sd1-tiny-pipeline/vae").resolve("config.json");
        assertMentions(unetConfigError(vaeConfig), "'_class_name' is \"AutoencoderKL\"", "UNet2DConditionModel was expected");
    }

    @Test
    void vaeConfigErrors() throws IOException {
        String json = Files.readString(Golden.model("sd1-tiny-pipeline/vae").resolve("config.json"));
        Path file = writeConfig(json.replace("\"UpDecoderBlock2D\",", "\"AttnUpDecoderBlock2D\","));
        String message = assertThrows(JDiffusionException.class, () -> AutoencoderKLConfig.fromJson(file)).getMessage();
        assertMentions(message, file.toString(), "unknown block type \"AttnUpDecoderBlock2D\"");
    }
}
