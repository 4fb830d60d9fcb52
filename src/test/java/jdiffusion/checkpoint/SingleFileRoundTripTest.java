package jdiffusion.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.Golden;
import jdiffusion.io.DType;
import jdiffusion.io.ModelFolder;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.LdmKeyMap;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * diffusers folder -> single file -> diffusers names, for every golden model: the same tensors,
 * bit for bit, under the same names, and configs equal to the folders' where it matters.
 */
class SingleFileRoundTripTest {
    /** The config.json keys that decide a UNet's structure (attention_head_dim: the head counts). */
    static final List<String> UNET_KEYS = List.of("block_out_channels", "layers_per_block", "attention_head_dim",
            "use_linear_projection", "in_channels", "out_channels", "cross_attention_dim", "down_block_types",
            "up_block_types", "upcast_attention", "sample_size");
    static final List<String> VAE_KEYS = List.of("block_out_channels", "layers_per_block", "in_channels", "out_channels",
            "latent_channels", "scaling_factor", "sample_size");
    static final List<String> TEXT_KEYS = List.of("hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "hidden_act", "max_position_embeddings", "vocab_size", "eos_token_id");

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "sd1-tiny-pipeline, SD1, TEXT_TO_IMAGE, epsilon",
        "sd2-tiny-pipeline, SD2, TEXT_TO_IMAGE, v_prediction",
        "unet-sd1-inpaint,  SD1, INPAINTING,    epsilon",
        "unet-sd2-depth,    SD2, DEPTH,         epsilon",
        "unet-sd2,          SD2, TEXT_TO_IMAGE, v_prediction",
    })
    void roundTripIsBitIdentical(String model, String version, String variant, String prediction) {
        Path folder = Golden.model(model);
        boolean pipeline = Files.exists(folder.resolve("model_index.json"));
        Path file = dir.resolve(model + ".safetensors");
        SingleFileExport.write(folder, file, null);

        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            assertEquals(SingleFileCheckpoint.Version.valueOf(version), ckpt.version());
            assertEquals(SingleFileCheckpoint.Variant.valueOf(variant), ckpt.variant());
            assertEquals(PredictionType.parse(prediction), ckpt.predictionType());
            Path unetDir = pipeline ? folder.resolve("unet") : folder;
            try (StateDict original = StateDict.open(ModelFolder.weightFiles(unetDir, null), KeyMap.identity())) {
                TensorBytes.assertIdentical(original, ckpt.unet(), model + " UNet");
            }
            assertConfig(unetDir.resolve("config.json"), ckpt.unetConfig(), UNET_KEYS);
            assertEquals(pipeline, ckpt.hasVae());
            assertEquals(pipeline, ckpt.hasTextEncoder());
            if (!pipeline) return;
            try (StateDict original = StateDict.open(ModelFolder.weightFiles(folder.resolve("vae"), null), KeyMap.identity())) {
                TensorBytes.assertIdentical(original, ckpt.vae(), model + " VAE");
            }
            assertConfig(folder.resolve("vae/config.json"), ckpt.vaeConfig(), VAE_KEYS);
            try (StateDict original = StateDict.open(ModelFolder.weightFiles(folder.resolve("text_encoder"), null), KeyMap.clipText())) {
                TensorBytes.assertIdentical(original, ckpt.textEncoder(), model + " text encoder");
            }
            assertConfig(folder.resolve("text_encoder/config.json"), ckpt.textEncoderConfig(), TEXT_KEYS);
            assertEquals(ModelFolder.readJson(folder.resolve("scheduler/scheduler_config.json")), ckpt.schedulerConfig());
        }
    }

    /** The file really is in the LDM layout, under the prefixes A1111 and ComfyUI look for. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"sd1-tiny-pipeline, cond_stage_model.transformer.", "sd2-tiny-pipeline, cond_stage_model.model."})
    void writesTheLdmLayout(String model, String textPrefix) {
        Path file = dir.resolve(model + ".safetensors");
        SingleFileExport.write(Golden.model(model), file, null);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String name : f.names()) {
                assertTrue(name.startsWith(LdmKeyMap.UNET_PREFIX) || name.startsWith(LdmKeyMap.VAE_PREFIX)
                        || name.startsWith(textPrefix), name);
            }
            assertTrue(f.contains("model.diffusion_model.time_embed.0.weight"));
            assertTrue(f.contains("model.diffusion_model.out.2.weight"));
            assertTrue(f.contains("first_stage_model.encoder.mid.attn_1.q.weight"));
            assertEquals(4, f.info("first_stage_model.encoder.mid.attn_1.q.weight").shape().length, "1x1 conv weight");
            assertFalse(f.names().stream().anyMatch(n -> n.contains("down_blocks") || n.contains("to_out")
                    && n.startsWith(LdmKeyMap.VAE_PREFIX)));
        }
    }

    /** Tensor contents in the file, against the folder's: q, k, v stacked in that order, 1x1 convs, reversed decoder levels. */
    @Test
    void fileHoldsTheFolderTensorsInLdmForm() {
        Path folder = Golden.model("sd2-tiny-pipeline");
        Path file = dir.resolve("sd2.safetensors");
        SingleFileExport.write(folder, file, null);
        try (StateDict f = StateDict.open(file);
             StateDict te = StateDict.open(List.of(folder.resolve("text_encoder/model.safetensors")), KeyMap.clipText());
             StateDict vae = StateDict.open(folder.resolve("vae/diffusion_pytorch_model.safetensors"));
             PointerScope scope = new PointerScope()) {
            String block = "cond_stage_model.model.transformer.resblocks.2.attn.in_proj_";
            assertArrayEquals(new long[] {96, 32}, f.shape(block + "weight"));
            List<String> parts = List.of("q", "k", "v");
            for (int i = 0; i < 3; i++) {
                String layer = "text_model.encoder.layers.2.self_attn." + parts.get(i) + "_proj.";
                assertArrayEquals(TensorBytes.of(te.view(layer + "weight")), TensorBytes.of(f.view(block + "weight").narrow(0, 32L * i, 32)));
                assertArrayEquals(TensorBytes.of(te.view(layer + "bias")), TensorBytes.of(f.view(block + "bias").narrow(0, 32L * i, 32)));
            }
            assertArrayEquals(new long[] {64, 64, 1, 1}, f.shape("first_stage_model.decoder.mid.attn_1.v.weight"));
            assertArrayEquals(TensorBytes.of(vae.view("decoder.mid_block.attentions.0.to_v.weight")),
                    TensorBytes.of(f.view("first_stage_model.decoder.mid.attn_1.v.weight")));
            assertArrayEquals(TensorBytes.of(vae.view("decoder.up_blocks.0.resnets.0.conv1.weight")),
                    TensorBytes.of(f.view("first_stage_model.decoder.up.1.block.0.conv1.weight")));
        }
    }

    @Test
    void storesTheRequestedDtype() {
        Path file = dir.resolve("sd1-fp16.safetensors");
        SingleFileExport.write(Golden.model("sd1-tiny-pipeline"), file, DType.F16);
        try (SafetensorsFile f = SafetensorsFile.open(file);
             StateDict unet = StateDict.open(Golden.model("sd1-tiny-pipeline/unet/diffusion_pytorch_model.safetensors"));
             PointerScope scope = new PointerScope()) {
            assertTrue(f.infos().values().stream().allMatch(i -> i.dtype() == DType.F16));
            Tensor half = f.view("model.diffusion_model.input_blocks.1.0.in_layers.2.weight");
            Tensor expected = unet.view("down_blocks.0.resnets.0.conv1.weight").to(ScalarType.Half);
            assertArrayEquals(TensorBytes.of(expected), TensorBytes.of(half));
        }
    }

    static void assertConfig(Path expectedFile, ObjectNode actual, List<String> keys) {
        JsonNode expected = ModelFolder.readJson(expectedFile);
        for (String k : keys) {
            assertEquals(expected.get(k), actual.get(k), expectedFile + ": " + k);
        }
    }
}
