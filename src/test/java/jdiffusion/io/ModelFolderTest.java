package jdiffusion.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.StateDict;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFolderTest {
    @TempDir
    Path dir;

    @Test
    void readsTheGoldenPipelineFolder() {
        ModelFolder model = ModelFolder.open(Golden.model("sd1-tiny-pipeline"));
        assertEquals("StableDiffusionPipeline", model.pipelineClass());
        assertEquals(List.of("scheduler", "text_encoder", "tokenizer", "unet", "vae"),
                List.copyOf(model.components().keySet()), "safety_checker [null, null] is not a component");
        assertEquals("UNet2DConditionModel", model.components().get("unet").className());
        assertEquals(List.of(model.component("unet").resolve("diffusion_pytorch_model.safetensors")),
                ModelFolder.weightFiles(model.component("unet"), null));
        assertEquals(List.of(model.component("text_encoder").resolve("model.safetensors")),
                ModelFolder.weightFiles(model.component("text_encoder"), null));
    }

    @Test
    void selectsAVariant() throws IOException {
        Path unet = Files.createDirectories(dir.resolve("unet"));
        write(unet.resolve("diffusion_pytorch_model.safetensors"), "x");
        write(unet.resolve("diffusion_pytorch_model.fp16.safetensors"), "x");
        assertEquals(List.of(unet.resolve("diffusion_pytorch_model.fp16.safetensors")), ModelFolder.weightFiles(unet, "fp16"));
        assertEquals(List.of(unet.resolve("diffusion_pytorch_model.safetensors")), ModelFolder.weightFiles(unet, null));
        var e = assertThrows(JDiffusionException.class, () -> ModelFolder.weightFiles(unet, "bf16"));
        assertTrue(e.getMessage().contains("no 'bf16' variant"), e.getMessage());
        Files.delete(unet.resolve("diffusion_pytorch_model.safetensors"));
        e = assertThrows(JDiffusionException.class, () -> ModelFolder.weightFiles(unet, null));
        assertTrue(e.getMessage().contains("--variant"), e.getMessage());
    }

    @Test
    void readsShardsThroughTheIndex() throws IOException {
        Path te = Files.createDirectories(dir.resolve("text_encoder"));
        write(te.resolve("model-00001-of-00002.safetensors"), "a");
        write(te.resolve("model-00002-of-00002.safetensors"), "b");
        Files.writeString(te.resolve("model.safetensors.index.json"), """
                {"metadata": {"total_size": 8}, "weight_map": {
                  "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}""");
        List<Path> files = ModelFolder.weightFiles(te, null);
        assertEquals(2, files.size());
        try (StateDict sd = StateDict.open(files, k -> k)) {
            assertEquals(java.util.Set.of("a", "b"), sd.keys());
        }
        Files.delete(te.resolve("model-00002-of-00002.safetensors"));
        var e = assertThrows(JDiffusionException.class, () -> ModelFolder.weightFiles(te, null));
        assertTrue(e.getMessage().contains("model-00002-of-00002.safetensors") && e.getMessage().contains("missing"),
                e.getMessage());
    }

    @Test
    void refusesPickleWeightsWithAnExplanation() throws IOException {
        Path unet = Files.createDirectories(dir.resolve("unet"));
        Files.write(unet.resolve("diffusion_pytorch_model.bin"), new byte[] {(byte) 0x80, 2});
        var e = assertThrows(JDiffusionException.class, () -> ModelFolder.weightFiles(unet, null));
        assertTrue(e.getMessage().contains("pickle") && e.getMessage().contains("safetensors"), e.getMessage());
    }

    @Test
    void reportsAMissingComponentFolder() throws IOException {
        Files.writeString(dir.resolve("model_index.json"), """
                {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
                 "safety_checker": [null, null]}""");
        ModelFolder model = ModelFolder.open(dir);
        var e = assertThrows(JDiffusionException.class, () -> model.component("unet"));
        assertTrue(e.getMessage().contains("'unet' folder is missing"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> model.component("vae"));
        assertTrue(e.getMessage().contains("no 'vae' component"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> ModelFolder.open(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("not a folder"), e.getMessage());
        Files.writeString(dir.resolve("model_index.json"), "{ broken");
        e = assertThrows(JDiffusionException.class, () -> ModelFolder.open(dir));
        assertTrue(e.getMessage().contains("not valid JSON"), e.getMessage());
    }

    @Test
    void resolvesHubRepoIdsInTheLocalCache() throws IOException {
        Path repo = dir.resolve("hub/models--stable-diffusion-v1-5--stable-diffusion-v1-5");
        Path snapshot = Files.createDirectories(repo.resolve("snapshots/0123abcd"));
        Files.createDirectories(repo.resolve("snapshots/ffff0000"));
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), "0123abcd\n");
        HubCache cache = HubCache.fromEnvironment(Map.of("HF_HOME", dir.toString()));
        assertEquals(snapshot, cache.resolve("stable-diffusion-v1-5/stable-diffusion-v1-5"));
        assertEquals(repo.resolve("snapshots/ffff0000"), cache.resolve("stable-diffusion-v1-5/stable-diffusion-v1-5@ffff0000"));
        assertEquals(dir.resolve("elsewhere"), HubCache.fromEnvironment(
                Map.of("HF_HUB_CACHE", dir.resolve("elsewhere").toString(), "HF_HOME", "/x")).cacheDir());
        var e = assertThrows(JDiffusionException.class, () -> cache.resolve("stabilityai/stable-diffusion-2-1"));
        assertTrue(e.getMessage().contains("hf download stabilityai/stable-diffusion-2-1"), e.getMessage());
        assertTrue(HubCache.looksLikeRepoId("org/name"));
        assertTrue(!HubCache.looksLikeRepoId("/abs/path") && !HubCache.looksLikeRepoId("a/b/c"));
    }

    @Test
    void aBrokenLinkInTheHubCacheIsCalledThat() throws IOException {
        // the cache's layout: snapshots/<rev>/unet/x.safetensors -> ../../../blobs/<sha256>; the blob is gone
        Path repo = dir.resolve("hub/models--org--name");
        Path unet = Files.createDirectories(repo.resolve("snapshots/0123abcd/unet"));
        Files.createDirectories(repo.resolve("blobs"));
        Files.createSymbolicLink(unet.resolve("diffusion_pytorch_model.safetensors"), Path.of("../../../blobs/9f86d081"));
        var e = assertThrows(JDiffusionException.class, () -> ModelFolder.weightFiles(unet, null));
        assertTrue(e.getMessage().contains("broken symbolic link") && e.getMessage().contains("blobs/9f86d081")
                && !e.getMessage().contains("variant"), e.getMessage());
        Files.createSymbolicLink(unet.resolve("config.json"), Path.of("../../../blobs/0000"));
        e = assertThrows(JDiffusionException.class, () -> ModelFolder.readJson(unet.resolve("config.json")));
        assertTrue(e.getMessage().contains("broken symbolic link"), e.getMessage());
        Path link = Files.createSymbolicLink(dir.resolve("model.safetensors"), dir.resolve("gone"));
        e = assertThrows(JDiffusionException.class, () -> ModelFolder.locate(link.toString()));
        assertTrue(e.getMessage().contains("broken symbolic link"), e.getMessage());
    }

    private static void write(Path p, String name) {
        SafetensorsWriter.write(p, Map.of(name, Tensors.fromFloats(new float[] {1, 2}, 2)));
    }
}
