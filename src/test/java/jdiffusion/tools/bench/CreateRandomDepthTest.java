package jdiffusion.tools.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import jdiffusion.cli.CliRunner;
import jdiffusion.models.dpt.DPTConfig;
import jdiffusion.pipelines.DepthToImageRequest;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionDepth2ImgPipeline;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** create-random writes depth2img folders (UNet with 5 channels, DPT-Hybrid, its processor) that load and run. */
class CreateRandomDepthTest {
    @TempDir
    Path dir;

    @Test
    void aTinyDepthFolderLoadsAndRunsDepthToImage() {
        Path folder = dir.resolve("tiny-depth");
        CliRunner r = CliRunner.run("create-random", "--config", "tiny-depth", folder.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("depth_estimator:"), r.out());
        // the written config.json reads back as the config it was written from
        assertEquals(RandomModel.TINY_DEPTH.depthEstimator(), DPTConfig.fromJson(folder.resolve("depth_estimator/config.json")));
        try (var pipe = StableDiffusionDepth2ImgPipeline.load(folder.toString(), null, PipelineOptions.defaults());
             PointerScope scope = new PointerScope()) {
            BufferedImage image = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 64; y++) for (int x = 0; x < 64; x++) image.setRGB(x, y, (x * 4) << 16 | (y * 4));
            GenerationResult result = pipe.generate(new DepthToImageRequest(
                    GenerationRequest.builder("a room").initImage(image).steps(2).seed(1).build(), null));
            assertEquals(64, result.images().getFirst().getWidth());
        }
    }

    @Test
    void theFullSizeDepthModelHasTheShapesOfTheHubRepository() {
        // stabilityai/stable-diffusion-2-depth: unet/config.json and depth_estimator/config.json (Intel/dpt-hybrid-midas)
        var unet = RandomModel.SD2_DEPTH.unet();
        assertEquals(5, unet.inChannels());
        assertEquals(java.util.List.of(5, 10, 20, 20), unet.attentionHeadDim());
        assertTrue(unet.useLinearProjection());
        DPTConfig dpt = RandomModel.SD2_DEPTH.depthEstimator();
        assertEquals(768, dpt.hiddenSize());
        assertEquals(java.util.List.of(3, 4, 9), dpt.backboneConfig().depths());
        assertEquals(1024, dpt.backboneConfig().stageChannels(2));
        assertEquals(1024, dpt.backboneFeatmapShape().get(1));
    }
}
