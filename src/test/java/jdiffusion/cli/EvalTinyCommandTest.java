package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** eval-tiny's sampler comparison (issue 23's quality guard) on the embedded tiny model, and its bad input. */
class EvalTinyCommandTest {
    @Test
    void comparesSamplersEachAtItsOwnSteps() {
        CliRunner r = CliRunner.run("eval-tiny", "--num-images", "2", "--guidance-scale", "1", "--sampler", "Euler:3,LCM:2");
        assertEquals(0, r.exitCode(), r.err());
        String summary = r.out().substring(r.out().lastIndexOf("sampler"));
        assertTrue(summary.contains("Euler, 3 steps") && summary.contains("LCM, 2 steps"), summary);
        // one row per sampler, each with a percentage per attribute
        assertEquals(2, summary.lines().filter(l -> l.matches(".*steps\\s+1\\.0\\s+.*%.*")).count(), summary);
    }

    /**
     * The quality guard: on 100 held-out captions (docs/speed.md) LCM and TCD at 4 steps without guidance
     * scored colour 99-100 %, shape 79-85 %, as DPM++ 2M at 25 steps (95 %, 79 %); here 20 captions, and
     * bounds a regression would cross (colour >= 85 %, shape >= 60 %).
     */
    @Test
    void fewStepSamplersKeepTheTinyModelsAccuracy() {
        CliRunner r = CliRunner.run("eval-tiny", "--num-images", "20", "--guidance-scale", "1", "--sampler", "LCM:4,TCD:4");
        assertEquals(0, r.exitCode(), r.err());
        String summary = r.out().substring(r.out().lastIndexOf("sampler"));
        for (String sampler : new String[] {"LCM, 4 steps", "TCD, 4 steps"}) {
            String row = summary.lines().filter(l -> l.startsWith(sampler)).findFirst().orElseThrow();
            String[] cells = row.substring(row.indexOf("1.0") + 3).trim().split("%\\s*");
            double colour = Double.parseDouble(cells[0]), shape = Double.parseDouble(cells[2]);
            assertTrue(colour >= 85 && shape >= 60, row);
        }
    }

    @Test
    void badSamplerSpecsEndWithOneLine() {
        CliRunner steps = CliRunner.run("eval-tiny", "--num-images", "1", "--sampler", "LCM:four");
        assertEquals(2, steps.exitCode());
        assertTrue(steps.err().startsWith("error: --sampler LCM:four") && steps.err().strip().lines().count() == 1, steps.err());

        CliRunner unknown = CliRunner.run("eval-tiny", "--num-images", "1", "--steps", "2", "--sampler", "NoSuchSampler");
        assertEquals(2, unknown.exitCode());
        assertTrue(unknown.err().strip().lines().count() == 1 && unknown.err().contains("NoSuchSampler"), unknown.err());
    }
}
