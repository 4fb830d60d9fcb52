package jdiffusion.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.WeightLoader;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Detection from shapes alone (no stored configs), original configs, the text encoder end to end, and bad files. */
class SingleFileCheckpointTest {
    /** What the shapes decide, by component. */
    private static final List<String> UNET_SHAPE_KEYS = List.of("block_out_channels", "layers_per_block",
            "use_linear_projection", "in_channels", "out_channels", "cross_attention_dim", "down_block_types", "up_block_types");
    private static final List<String> VAE_SHAPE_KEYS = List.of("block_out_channels", "layers_per_block", "in_channels",
            "out_channels", "latent_channels");
    private static final List<String> TEXT_SHAPE_KEYS = List.of("hidden_size", "intermediate_size", "num_hidden_layers",
            "hidden_act", "max_position_embeddings", "vocab_size");

    @TempDir
    Path dir;

    /** The LDM file as another tool would write it: no jdiffusion metadata. */
    private Path bareSingleFile(String model) {
        Path withMetadata = dir.resolve(model + "-meta.safetensors");
        SingleFileExport.write(Golden.model(model), withMetadata, null);
        return stripMetadata(withMetadata, dir.resolve(model + ".safetensors"));
    }

    /** A copy of {@code file} with only the standard {@code format} metadata. */
    static Path stripMetadata(Path file, Path bare) {
        try (SafetensorsFile f = SafetensorsFile.open(file); PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : f.names()) tensors.put(name, f.view(name));
            SafetensorsWriter.write(bare, tensors, Map.of("format", "pt"));
        }
        return bare;
    }

    @Test
    void detectsSd1FromShapesAlone() {
        Path folder = Golden.model("sd1-tiny-pipeline");
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(bareSingleFile("sd1-tiny-pipeline"))) {
            assertEquals(SingleFileCheckpoint.Version.SD1, ckpt.version());
            assertEquals(PredictionType.EPSILON, ckpt.predictionType());
            ObjectNode unet = ckpt.unetConfig();
            SingleFileRoundTripTest.assertConfig(folder.resolve("unet/config.json"), unet, UNET_SHAPE_KEYS);
            // SD 1.x: 8 heads everywhere, which the tiny model uses too.
            assertEquals(ModelFolder.readJson(folder.resolve("unet/config.json")).get("attention_head_dim"), unet.get("attention_head_dim"));
            assertEquals(64, unet.get("sample_size").asInt());
            SingleFileRoundTripTest.assertConfig(folder.resolve("vae/config.json"), ckpt.vaeConfig(), VAE_SHAPE_KEYS);
            assertEquals(0.18215, ckpt.vaeConfig().get("scaling_factor").asDouble());
            // The published SD 1.5 scheduler, key for key (the golden folder ships exactly that file).
            assertEquals(ModelFolder.readJson(folder.resolve("scheduler/scheduler_config.json")), ckpt.schedulerConfig());
            // A 32-wide CLIP has no standard head count: its config fails, naming the reason; its tensors stay readable.
            var e = assertThrows(JDiffusionException.class, ckpt::textEncoderConfig);
            assertTrue(e.getMessage().contains("heads"), e.getMessage());
            assertEquals(84, ckpt.textEncoder().keys().size());
        }
    }

    @Test
    void sd2HeadWidthNeedsTheOriginalConfigForNonStandardWidths() throws IOException {
        Path file = bareSingleFile("sd2-tiny-pipeline");
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            assertEquals(SingleFileCheckpoint.Version.SD2, ckpt.version());
            // SD 2.x text-to-image defaults to v-prediction, as diffusers guesses, and says so.
            assertEquals(PredictionType.V_PREDICTION, ckpt.predictionType());
            assertTrue(ckpt.predictionReason().contains("--prediction-type"), ckpt.predictionReason());
            var e = assertThrows(JDiffusionException.class, ckpt::unetConfig);
            assertTrue(e.getMessage().contains("heads of 64") && e.getMessage().contains("--config"), e.getMessage());
            // What the shapes decide is still detected (read here without the head count).
            SingleFileRoundTripTest.assertConfig(Golden.model("sd2-tiny-pipeline/unet/config.json"),
                    ConfigDetector.unetShapes(ckpt.unet()), UNET_SHAPE_KEYS);
        }
        Path yaml = dir.resolve("tiny-v2-inference-v.yaml");
        Files.writeString(yaml, TINY_V2_YAML);
        var options = new SingleFileCheckpoint.Options(null, yaml);
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file, options)) {
            List<String> keys = new java.util.ArrayList<>(UNET_SHAPE_KEYS);
            keys.addAll(List.of("attention_head_dim", "upcast_attention"));
            SingleFileRoundTripTest.assertConfig(Golden.model("sd2-tiny-pipeline/unet/config.json"), ckpt.unetConfig(), keys);
            // The v-prediction default resolution, 768 px; image_size in the LDM config does not tell it.
            assertEquals(96, ckpt.unetConfig().get("sample_size").asInt());
            assertEquals(PredictionType.V_PREDICTION, ckpt.predictionType());
            assertTrue(ckpt.predictionReason().contains("parameterization"), ckpt.predictionReason());
        }
        // An explicit option wins over everything.
        var eps = new SingleFileCheckpoint.Options(PredictionType.EPSILON, yaml);
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file, eps)) {
            assertEquals("epsilon", ckpt.schedulerConfig().get("prediction_type").asText());
            assertEquals("DDIMScheduler", ckpt.schedulerConfig().get("_class_name").asText());
            assertEquals("[2,4]", ckpt.unetConfig().get("attention_head_dim").toString());
        }
    }

    @Test
    void refusesAnOriginalConfigOfAnotherModel() throws IOException {
        Path yaml = dir.resolve("v1-inference.yaml");
        Files.writeString(yaml, TINY_V2_YAML.replace("context_dim: 32", "context_dim: 768"));
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(bareSingleFile("sd2-tiny-pipeline"),
                new SingleFileCheckpoint.Options(null, yaml))) {
            var e = assertThrows(JDiffusionException.class, ckpt::unetConfig);
            assertTrue(e.getMessage().contains("context_dim = 768") && e.getMessage().contains("another model"), e.getMessage());
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"sd1-tiny-pipeline, text_encoder_quick_gelu", "sd2-tiny-pipeline, text_encoder_gelu"})
    void textEncoderFromTheFileEncodesAsTheFolders(String model, String goldenCase) {
        Path file = dir.resolve(model + ".safetensors");
        SingleFileExport.write(Golden.model(model), file, null);
        CLIPTextModel reference = CLIPTextModel.load(Golden.model(model).resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
        CLIPTextModel converted;
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            converted = new CLIPTextModel(ckpt.clipTextConfig());
            try (PointerScope scope = new PointerScope()) {
                WeightLoader.load(converted, ckpt.textEncoder(), "text encoder from " + file.getFileName());
            }
        }
        try (Golden golden = Golden.open(goldenCase); PointerScope scope = new PointerScope()) {
            Tensor ids = golden.tensor("input_ids");
            assertEquals(0.0, Tensors.maxAbsDiff(reference.encode(ids), converted.encode(ids)));
            assertEquals(0.0, Tensors.maxAbsDiff(reference.encode(ids, 1), converted.encode(ids, 1)));
            Golden.assertClose(model + " encode", converted.encode(ids), golden.tensor("last_hidden_state"), 1e-4, 0);
        } finally {
            reference.close();
            converted.close();
        }
    }

    @Test
    void saysWhatAnUnrelatedFileHolds() {
        Path file = dir.resolve("random.safetensors");
        try (PointerScope scope = new PointerScope()) {
            SafetensorsWriter.write(file, Map.of("encoder.layer.0.weight", Tensors.fromFloats(new float[4], 2, 2),
                    "classifier.bias", Tensors.fromFloats(new float[2], 2)));
        }
        var e = assertThrows(JDiffusionException.class, () -> SingleFileCheckpoint.open(file));
        assertTrue(e.getMessage().contains("not a recognised Stable Diffusion 1.x/2.x checkpoint"), e.getMessage());
        assertTrue(e.getMessage().contains("encoder.* (1)") && e.getMessage().contains("classifier.* (1)"), e.getMessage());

        Path sdxl = dir.resolve("sdxl.safetensors");
        try (PointerScope scope = new PointerScope()) {
            SafetensorsWriter.write(sdxl, Map.of("conditioner.embedders.1.model.ln_final.weight", Tensors.fromFloats(new float[2], 2)));
        }
        e = assertThrows(JDiffusionException.class, () -> SingleFileCheckpoint.open(sdxl));
        assertTrue(e.getMessage().contains("SDXL"), e.getMessage());
    }

    @Test
    void refusesAUnetOfAnotherArchitecture() {
        Path file = dir.resolve("odd.safetensors");
        try (SafetensorsFile f = SafetensorsFile.open(bareSingleFile("sd1-tiny-pipeline")); PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : f.names()) tensors.put(name, f.view(name));
            tensors.put("model.diffusion_model.label_emb.0.0.weight", Tensors.fromFloats(new float[4], 2, 2)); // SDXL's
            SafetensorsWriter.write(file, tensors);
        }
        var e = assertThrows(JDiffusionException.class, () -> SingleFileCheckpoint.open(file));
        assertTrue(e.getMessage().contains("label_emb.0.0.weight") && e.getMessage().contains("another architecture"), e.getMessage());
    }

    @Test
    void aFileWhoseHeaderLengthStartsWith0x80LoadsAsSafetensors() throws IOException {
        // convert --to single-file wrote such a file and it was read as a legacy pickle ("protocol 214")
        Path bare = bareSingleFile("sd1-tiny-pipeline");
        Path file = dir.resolve("pad.safetensors");
        int pad = 0;
        for (int attempt = 0; attempt < 4; attempt++) {
            try (SafetensorsFile f = SafetensorsFile.open(bare); PointerScope scope = new PointerScope()) {
                Map<String, Tensor> tensors = new LinkedHashMap<>();
                for (String name : f.names()) tensors.put(name, f.view(name));
                SafetensorsWriter.write(file, tensors, Map.of("format", "pt", "pad", "x".repeat(pad)));
            }
            int low = readFirstByte(file);
            if (low == 0x80) break;
            pad += (0x80 - low) & 0xff; // the header grows by the padding (the writer's 8-byte alignment keeps it so)
        }
        assertEquals(0x80, readFirstByte(file), "the header length's low byte");
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            assertEquals(SingleFileCheckpoint.Version.SD1, ckpt.version());
        }
    }

    private static int readFirstByte(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            return in.read();
        }
    }

    @Test
    void corruptFilesGiveOneLineErrors() throws IOException {
        Path junk = dir.resolve("junk.ckpt");
        Files.write(junk, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
        var e = assertThrows(JDiffusionException.class, () -> SingleFileCheckpoint.open(junk));
        assertTrue(e.getMessage().contains("neither a safetensors file nor a PyTorch pickle"), e.getMessage());
        Path zip = dir.resolve("broken.ckpt");
        Files.write(zip, new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0});
        e = assertThrows(JDiffusionException.class, () -> SingleFileCheckpoint.open(zip));
        assertTrue(e.getMessage().contains("damaged zip"), e.getMessage());
    }

    /** v2-inference-v.yaml's structure with the tiny SD2 model's numbers (16-channel heads). */
    static final String TINY_V2_YAML = """
            model:
              base_learning_rate: 1.0e-4
              target: ldm.models.diffusion.ddpm.LatentDiffusion
              params:
                parameterization: "v"
                linear_start: 0.00085
                linear_end: 0.0120
                image_size: 16 # latent size
                channels: 4
                scale_factor: 0.18215
                use_ema: False # we set this to false because this is an inference only config

                unet_config:
                  target: ldm.modules.diffusionmodules.openaimodel.UNetModel
                  params:
                    use_checkpoint: True
                    image_size: 32 # unused
                    in_channels: 4
                    out_channels: 4
                    model_channels: 32
                    attention_resolutions: [ 1 ]
                    num_res_blocks: 1
                    channel_mult: [ 1, 2 ]
                    num_head_channels: 16 # need to fix for flash-attn
                    use_spatial_transformer: True
                    use_linear_in_transformer: True
                    transformer_depth: 1
                    context_dim: 32
                    legacy: False

                first_stage_config:
                  target: ldm.models.autoencoder.AutoencoderKL
                  params:
                    embed_dim: 4
                    ddconfig:
                      double_z: true
                      ch: 32
                      ch_mult:
                      - 1
                      - 2
                      num_res_blocks: 2
                      attn_resolutions: []
                      dropout: 0.0
                    lossconfig:
                      target: torch.nn.Identity

                cond_stage_config:
                  target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder
                  params:
                    freeze: True
                    layer: "penultimate"
            """;
}
