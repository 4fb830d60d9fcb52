package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PngParametersTest {
    @Test
    void parsesAnAutomatic1111Infotext() {
        String text = """
                masterpiece, (best quality:1.2), a castle
                on a hill
                Negative prompt: blurry, lowres
                Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3735928559, Size: 512x768, \
                Model hash: abc123, Model: v1-5-pruned, Clip skip: 2, Lora hashes: "a: 1, b: 2\"""";
        PngParameters p = PngParameters.parse(text);
        assertEquals("masterpiece, (best quality:1.2), a castle\non a hill", p.prompt());
        assertEquals("blurry, lowres", p.negativePrompt());
        assertEquals("DPM++ 2M Karras", p.get("Sampler"));
        assertEquals("3735928559", p.get("Seed"));
        assertEquals("512x768", p.get("Size"));
        assertEquals("2", p.get("Clip skip"));
        assertEquals("a: 1, b: 2", p.get("Lora hashes"));
    }

    @Test
    void roundTrips() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("Steps", "4");
        s.put("Sampler", "Euler a");
        s.put("CFG scale", "6.0");
        s.put("Seed", "0");
        s.put("Size", "48x32");
        s.put("Model", "sd1-tiny-pipeline");
        s.put("Note", "has, a comma: and \"quotes\"");
        PngParameters p = new PngParameters("a cat,\nwith two lines", "ugly", s);
        assertEquals(p, PngParameters.parse(p.format()));
        PngParameters noNegative = new PngParameters("a dog", "", s);
        assertEquals(noNegative, PngParameters.parse(noNegative.format()));
    }
}
