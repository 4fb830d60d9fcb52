package jdiffusion.models.dpt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** DPTImageProcessor settings that the golden case does not use. */
class DPTImageProcessorTest {
    @TempDir
    Path dir;

    private DPTImageProcessor read(String json) throws Exception {
        return DPTImageProcessor.fromJson(Files.writeString(dir.resolve("preprocessor_config.json"), json));
    }

    @Test
    void anOldStyleNumericSizeMeansASquare() throws Exception {
        DPTImageProcessor p = read("{\"size\": 48, \"resample\": 3}");
        assertEquals(48, p.height());
        assertEquals(48, p.width());
        assertArrayEquals(new int[] {48, 48}, p.outputSize(90, 120));
    }

    @Test
    void keepAspectRatioScalesByTheFactorNearerOneAndRoundsToTheMultiple() throws Exception {
        // transformers' get_resize_output_image_size: 480x640 to 384: 0.8 (height) is nearer 1 than 0.6 (width)
        DPTImageProcessor p = read("{\"size\": {\"height\": 384, \"width\": 384}, \"keep_aspect_ratio\": true, \"ensure_multiple_of\": 32}");
        assertArrayEquals(new int[] {384, 512}, p.outputSize(480, 640));
        assertArrayEquals(new int[] {384, 288}, p.outputSize(400, 300)); // 0.96 vs 1.28: 0.96, 288 is 9 x 32
    }

    @Test
    void paddingAndUnknownFiltersAreRefused() {
        var e = assertThrows(JDiffusionException.class, () -> read("{\"do_pad\": true}"));
        assertEquals(true, e.getMessage().contains("'do_pad' is true"), e.getMessage());
        e = assertThrows(JDiffusionException.class, () -> read("{\"resample\": 5}"));
        assertEquals(true, e.getMessage().contains("resample 5"), e.getMessage());
    }
}
