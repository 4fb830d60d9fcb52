package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import jdiffusion.Golden;
import org.bytedeco.javacpp.PointerScope;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The request's vaeTiling on the tiny pipeline, whose VAE tile is 32 pixels (sample_size). */
class VAETilingPipelineTest {
    private static StableDiffusionPipeline pipe;

    @BeforeAll
    static void load() {
        pipe = StableDiffusionPipeline.load(Golden.model("sd1-tiny-pipeline").toString(), PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        if (pipe != null) pipe.close();
    }

    private static BufferedImage image(int size, VAETiling tiling, BufferedImage init) {
        var b = GenerationRequest.builder("a red circle").steps(1).seed(5).size(size, size).vaeTiling(tiling);
        if (init != null) b.initImage(init).strength(1.0);
        try (PointerScope scope = new PointerScope()) {
            return pipe.generate(b.build()).images().getFirst();
        }
    }

    private static int maxDiff(BufferedImage a, BufferedImage b) {
        assertArrayEquals(new int[] {a.getWidth(), a.getHeight()}, new int[] {b.getWidth(), b.getHeight()});
        int worst = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                for (int s = 0; s <= 16; s += 8) {
                    worst = Math.max(worst, Math.abs((a.getRGB(x, y) >> s & 0xff) - (b.getRGB(x, y) >> s & 0xff)));
                }
            }
        }
        return worst;
    }

    @Test
    void autoTilesOnlyAboveTwoByTwoTilesAndOnAlwaysTiles() {
        // 64x64 = 2x2 tiles: AUTO leaves it whole, ON tiles it
        BufferedImage off = image(64, VAETiling.OFF, null);
        assertEquals(0, maxDiff(off, image(64, VAETiling.AUTO, null)), "AUTO at 64x64 is untiled");
        int on = maxDiff(off, image(64, VAETiling.ON, null));
        System.out.println("64x64, tiled vs untiled decode: max pixel diff " + on + " of 255");
        assertTrue(on > 0, "ON should tile a 64x64 image");
        // above 2x2 tiles AUTO tiles: 1024x1024 is whole for SD's 512-pixel tiles, 1032x1024 is not
        assertTrue(!VAETiling.AUTO.tiles(1024, 1024, 512) && VAETiling.AUTO.tiles(1032, 1024, 512));
        assertTrue(VAETiling.ON.tiles(8, 8, 512) && !VAETiling.OFF.tiles(8192, 8192, 512));
        // img2img: the init image is encoded in tiles too
        BufferedImage init = off;
        int img2img = maxDiff(image(64, VAETiling.OFF, init), image(64, VAETiling.ON, init));
        System.out.println("64x64 img2img, tiled vs untiled encode+decode: max pixel diff " + img2img + " of 255");
        assertTrue(img2img > 0);
    }
}
