package jdiffusion.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import jdiffusion.Golden;
import jdiffusion.io.DType;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.LdmKeyMap;
import jdiffusion.weights.StateDict;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Detection on real SD 1.5 / 2.1 / 2.x-inpainting layouts, from headers that have no data behind
 * them: any attempt to read a tensor fails the test. The expected values are those of the
 * published stable-diffusion-v1-5 and stable-diffusion-2-1 config files.
 */
class RealSizeDetectionTest {
    private static final List<Integer> UNET_CHANNELS = List.of(320, 640, 1280, 1280);
    private static final List<Boolean> UNET_ATTENTION = List.of(true, true, true, false);
    private static final List<Integer> VAE_CHANNELS = List.of(128, 256, 512, 512);

    /** A tensor known only by its header. */
    private record Header(long[] shape) implements StateDict.Source {
        @Override
        public DType dtype() {
            return DType.F16;
        }

        @Override
        public Tensor view() {
            throw new AssertionError("config detection read tensor data");
        }
    }

    /** LDM names and shapes of a whole checkpoint: diffusers shapes renamed by our tables (checked elsewhere against the diffusers script). */
    private static Map<String, StateDict.Source> checkpoint(int in, boolean sd2, int textLayers, Map<String, long[]> extra) {
        Map<String, StateDict.Source> out = new LinkedHashMap<>();
        Map<String, long[]> unet = SdShapes.unet(UNET_CHANNELS, 2, UNET_ATTENTION, in, sd2 ? 1024 : 768, sd2);
        add(out, unet, LdmKeyMap.unet(LdmKeyMap.UNetLayout.fromDiffusers(unet.keySet())), LdmKeyMap.UNET_PREFIX);
        Map<String, long[]> vae = SdShapes.vae(VAE_CHANNELS, 2, 4);
        add(out, vae, LdmKeyMap.vae(LdmKeyMap.VAELayout.fromDiffusers(vae.keySet())), LdmKeyMap.VAE_PREFIX);
        Map<String, long[]> text = sd2 ? SdShapes.textEncoder(1024, 4096, textLayers) : SdShapes.textEncoder(768, 3072, textLayers);
        add(out, text, sd2 ? LdmKeyMap.openClip(textLayers) : LdmKeyMap.clip(), sd2 ? LdmKeyMap.OPEN_CLIP_PREFIX : LdmKeyMap.CLIP_PREFIX);
        extra.forEach((k, s) -> out.put(k, new Header(s)));
        return out;
    }

    private static void add(Map<String, StateDict.Source> out, Map<String, long[]> shapes, LdmKeyMap.Table table, String prefix) {
        LdmKeyMap.Plan plan = table.toLdm(shapes.keySet(), prefix);
        plan.targets().forEach((name, t) -> out.put(name, new Header(t.shape(shapes::get))));
    }

    private static SingleFileCheckpoint open(Map<String, StateDict.Source> tensors, Long globalStep) {
        StateDict sd = StateDict.of(tensors, null, "real-size headers");
        return SingleFileCheckpoint.open(Path.of("real.safetensors"), CheckpointFile.of(sd, Map.of(), globalStep),
                SingleFileCheckpoint.Options.DEFAULT);
    }

    @Test
    void shapeGeneratorMatchesTheGoldenModels() {
        for (var c : List.of(
                Map.entry("sd1-tiny-pipeline/unet", SdShapes.unet(List.of(32, 64, 64), 2, List.of(true, true, false), 4, 32, false)),
                Map.entry("unet-sd2-depth", SdShapes.unet(List.of(32, 64, 64), 2, List.of(true, true, false), 5, 32, true)),
                Map.entry("sd2-tiny-pipeline/unet", SdShapes.unet(List.of(32, 64), 1, List.of(true, false), 4, 32, true)),
                Map.entry("sd1-tiny-pipeline/vae", SdShapes.vae(List.of(32, 64), 2, 4)))) {
            Path file = Golden.model(c.getKey()).resolve("diffusion_pytorch_model.safetensors");
            try (StateDict golden = StateDict.open(file)) {
                Map<String, String> expected = new TreeMap<>();
                golden.keys().forEach(k -> expected.put(k, java.util.Arrays.toString(golden.shape(k))));
                Map<String, String> generated = new TreeMap<>();
                c.getValue().forEach((k, s) -> generated.put(k, java.util.Arrays.toString(s)));
                assertEquals(expected, generated, c.getKey());
            }
        }
        try (StateDict golden = StateDict.open(List.of(Golden.model("text-encoder-gelu/model.safetensors")), KeyMap.clipText())) {
            Map<String, long[]> generated = SdShapes.textEncoder(32, 37, 5);
            assertEquals(new java.util.TreeSet<>(golden.keys()), new java.util.TreeSet<>(generated.keySet()));
            generated.forEach((k, s) -> assertArrayEquals(golden.shape(k), s, k));
        }
    }

    @Test
    void sd15() {
        Map<String, long[]> leftovers = Map.of("betas", new long[] {1000}, "model_ema.decay", new long[0],
                "cond_stage_model.transformer.text_model.embeddings.position_ids", new long[] {1, 77});
        try (SingleFileCheckpoint ckpt = open(checkpoint(4, false, 12, leftovers), null)) {
            assertEquals("SD 1.x text-to-image, epsilon, CLIP text encoder (12 layers)", ckpt.summary());
            ObjectNode unet = ckpt.unetConfig();
            assertEquals("[320,640,1280,1280]", unet.get("block_out_channels").toString());
            assertEquals(8, unet.get("attention_head_dim").asInt());
            assertEquals(768, unet.get("cross_attention_dim").asInt());
            assertEquals(false, unet.get("use_linear_projection").asBoolean());
            assertEquals(64, unet.get("sample_size").asInt());
            assertEquals("[\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\",\"CrossAttnDownBlock2D\",\"DownBlock2D\"]",
                    unet.get("down_block_types").toString());
            assertEquals("[\"UpBlock2D\",\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\",\"CrossAttnUpBlock2D\"]",
                    unet.get("up_block_types").toString());
            ObjectNode vae = ckpt.vaeConfig();
            assertEquals("[128,256,512,512]", vae.get("block_out_channels").toString());
            assertEquals(512, vae.get("sample_size").asInt());
            assertEquals(new jdiffusion.models.clip.CLIPTextConfig(49408, 768, 3072, 768, 12, 12, 77,
                    jdiffusion.models.clip.CLIPTextConfig.HiddenAct.QUICK_GELU, 1e-5, 0.0, 0.02, 1.0, 1, 0, 2), ckpt.clipTextConfig());
            assertEquals(jdiffusion.models.clip.CLIPTextConfig.SD_1_5, ckpt.clipTextConfig());
            assertEquals("PNDMScheduler", ckpt.schedulerConfig().get("_class_name").asText());
            assertEquals(3, ckpt.notes().size(), ckpt.notes().toString());
        }
    }

    @Test
    void sd21v() {
        Map<String, long[]> openClipExtras = Map.of("cond_stage_model.model.text_projection", new long[] {1024, 1024},
                "cond_stage_model.model.logit_scale", new long[0]);
        try (SingleFileCheckpoint ckpt = open(checkpoint(4, true, 24, openClipExtras), null)) {
            // OpenCLIP ViT-H has 24 resblocks; SD 2 uses the penultimate layer, so diffusers keeps 23.
            assertEquals("SD 2.x text-to-image, v_prediction, OpenCLIP text encoder (23 layers)", ckpt.summary());
            ObjectNode unet = ckpt.unetConfig();
            assertEquals("[5,10,20,20]", unet.get("attention_head_dim").toString());
            assertEquals(1024, unet.get("cross_attention_dim").asInt());
            assertTrue(unet.get("use_linear_projection").asBoolean());
            assertTrue(unet.get("upcast_attention").asBoolean());
            assertEquals(96, unet.get("sample_size").asInt());
            assertEquals(768, ckpt.vaeConfig().get("sample_size").asInt());
            assertEquals(jdiffusion.models.clip.CLIPTextConfig.SD_2_1, ckpt.clipTextConfig());
            assertEquals("v_prediction", ckpt.schedulerConfig().get("prediction_type").asText());
            assertEquals("DDIMScheduler", ckpt.schedulerConfig().get("_class_name").asText());
            assertTrue(ckpt.notes().stream().anyMatch(n -> n.contains("resblock 23")), ckpt.notes().toString());
        }
        // The same weights saved by SD 2.0-base's training run: diffusers' older heuristic reads the step.
        try (SingleFileCheckpoint ckpt = open(checkpoint(4, true, 24, openClipExtras), 875000L)) {
            assertEquals(PredictionType.EPSILON, ckpt.predictionType());
            assertEquals(64, ckpt.unetConfig().get("sample_size").asInt());
        }
        // A file written from diffusers holds only the 23 layers; it reads the same.
        try (SingleFileCheckpoint ckpt = open(checkpoint(4, true, 23, Map.of()), null)) {
            assertEquals(23, ckpt.textEncoderConfig().get("num_hidden_layers").asInt());
        }
    }

    @Test
    void sd2Inpainting() {
        try (SingleFileCheckpoint ckpt = open(checkpoint(9, true, 24, Map.of()), null)) {
            assertEquals(SingleFileCheckpoint.Variant.INPAINTING, ckpt.variant());
            assertEquals(PredictionType.EPSILON, ckpt.predictionType());
            assertEquals(9, ckpt.unetConfig().get("in_channels").asInt());
            assertEquals(false, ckpt.unetConfig().get("upcast_attention").asBoolean());
        }
    }
}
