package jdiffusion.models.unet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading config.json: diffusers' defaults, int-or-list normalisation, and the head-count quirk. */
class UNet2DConditionConfigTest {
    @TempDir
    Path tmp;

    @Test
    void attentionHeadDimIsTheHeadCount() {
        UNet2DConditionConfig sd1 = UNet2DConditionConfig.fromJson(Golden.model("sd1-tiny-pipeline/unet").resolve("config.json"));
        assertEquals(List.of(8, 8, 8), sd1.attentionHeadDim()); // "8" for every block
        UNet2DConditionConfig sd2 = UNet2DConditionConfig.fromJson(Golden.model("unet-sd2").resolve("config.json"));
        assertEquals(List.of(2, 4, 4), sd2.attentionHeadDim());
        assertEquals(4, sd2.attentionHeads(2)); // 4 heads of width 16 on 64 channels, not heads of width 4
        assertEquals(List.of(2, 4), UNet2DConditionConfig.fromJson(
                Golden.model("sd2-tiny-pipeline/unet").resolve("config.json")).attentionHeadDim());
    }

    @Test
    void absentKeysTakeDiffusersDefaults() throws IOException {
        Path file = tmp.resolve("config.json");
        Files.writeString(file, "{\"_class_name\": \"UNet2DConditionModel\", \"cross_attention_dim\": 768}");
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(file);
        assertEquals(List.of(320, 640, 1280, 1280), c.blockOutChannels());
        assertEquals(List.of(2, 2, 2, 2), c.layersPerBlock());
        assertEquals(List.of(768, 768, 768, 768), c.crossAttentionDim());
        assertEquals(List.of(8, 8, 8, 8), c.attentionHeadDim());
        assertEquals(1280, c.timeEmbedDim());
        assertNull(c.sampleSize());
        // the published SD 1.5 config spells out exactly these values
        assertEquals(UNet2DConditionConfig.stableDiffusion15().blockOutChannels(), c.blockOutChannels());
    }
}
