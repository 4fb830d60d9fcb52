package jdiffusion.schedulers;

import static jdiffusion.schedulers.SchedulerRunTest.SD15;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Name lookup, diffusers' from_config semantics (Pitfall 18), image-to-image starts, the CLI listing. */
class SchedulersTest {
    private static final SchedulerConfigFile SOURCE = SchedulerConfigFile.parse(SD15);

    private static double[] timesteps(Scheduler s, int steps) {
        return s.schedule(steps).timestepValues();
    }

    @Test
    void a1111AndDiffusersNamesAreCaseInsensitive() {
        assertInstanceOf(EulerAncestralDiscreteScheduler.class, Schedulers.create("euler A", SOURCE, Map.of()));
        assertInstanceOf(EulerAncestralDiscreteScheduler.class, Schedulers.create("EulerAncestralDiscreteScheduler", SOURCE, Map.of()));
        assertInstanceOf(PNDMScheduler.class, Schedulers.create("plms", SOURCE, Map.of()));
        assertInstanceOf(LMSDiscreteScheduler.class, Schedulers.create("LMS", SOURCE, Map.of()));
        assertInstanceOf(UniPCMultistepScheduler.class, Schedulers.create(" unipc ", SOURCE, Map.of()));
        Scheduler karras = Schedulers.create("DPM++ 2M Karras", SOURCE, Map.of());
        assertTrue(karras.config().useKarrasSigmas());
        assertFalse(Schedulers.create("dpm++ 2m", SOURCE, Map.of()).config().useKarrasSigmas());
        // Pitfall 22: 4 Karras steps
        assertArrayEquals(new double[] {999, 687, 146, 0}, timesteps(karras, 4));
    }

    @Test
    void unknownNamesListTheValidOnes() {
        JDiffusionException e = assertThrows(JDiffusionException.class, () -> Schedulers.create("Euler b", SOURCE, Map.of()));
        assertTrue(e.getMessage().contains("Euler a") && e.getMessage().contains("DPMSolverMultistepScheduler"), e.getMessage());
    }

    @Test
    void absentKeysTakeTheNewClassDefaults() {
        // the SD1.5 file has no timestep_spacing: PNDM/DDIM keep "leading", Euler a takes "linspace"
        assertArrayEquals(new double[] {751, 501, 501, 251, 1}, timesteps(Schedulers.create("PLMS", SOURCE, Map.of()), 4));
        assertArrayEquals(new double[] {751, 501, 251, 1}, timesteps(Schedulers.create("DDIM", SOURCE, Map.of()), 4));
        assertArrayEquals(new double[] {999, 666, 333, 0}, timesteps(Schedulers.create("Euler a", SOURCE, Map.of()), 4));
        assertArrayEquals(new double[] {999, 749, 500, 250}, timesteps(Schedulers.create("UniPC", SOURCE, Map.of()), 4));
        assertArrayEquals(new double[] {999, 666, 666, 333, 333, 0, 0}, timesteps(Schedulers.create("Heun", SOURCE, Map.of()), 4));
        // Euler's init_noise_sigma: sigma_max with linspace, sqrt(sigma_max^2 + 1) with leading
        Scheduler euler = Schedulers.create("Euler", SOURCE, Map.of());
        Scheduler eulerLeading = Schedulers.create("Euler", SOURCE, Map.of("timestep_spacing", "leading"));
        assertEquals(euler.schedule(4).sigmas()[0], euler.schedule(4).initNoiseSigma());
        float max = eulerLeading.schedule(4).sigmas()[0];   // sigma at t = 751
        assertEquals((float) Math.sqrt(max * max + 1), eulerLeading.schedule(4).initNoiseSigma(), 1e-6);
    }

    @Test
    void explicitKeysAndOverridesCarryOver() {
        // a file re-saved by newer diffusers spells timestep_spacing out, and it carries over
        SchedulerConfigFile resaved = SchedulerConfigFile.parse(SD15.replace("\"clip_sample\": false", "\"clip_sample\": false, \"timestep_spacing\": \"leading\""));
        assertArrayEquals(new double[] {751, 501, 251, 1}, timesteps(Schedulers.create("Euler a", resaved, Map.of()), 4));
        // ... unless it lists the key in _use_default_values (it was a default of the saving class)
        SchedulerConfigFile defaulted = SchedulerConfigFile.parse(SD15.replace("\"clip_sample\": false",
                "\"clip_sample\": false, \"timestep_spacing\": \"leading\", \"_use_default_values\": [\"timestep_spacing\"]"));
        assertArrayEquals(new double[] {999, 666, 333, 0}, timesteps(Schedulers.create("Euler a", defaulted, Map.of()), 4));
        // overrides win, unknown file keys are ignored, unknown override keys are an error
        Scheduler v = Schedulers.create("DDIM", SchedulerConfigFile.parse("{\"prediction_type\": \"epsilon\", \"foo\": 1}"),
                Map.of("prediction_type", "v_prediction"));
        assertEquals(PredictionType.V_PREDICTION, v.config().predictionType());
        assertTrue(v.config().setAlphaToOne(), "DDIM's own default");
        JDiffusionException e = assertThrows(JDiffusionException.class,
                () -> Schedulers.create("DDIM", SOURCE, Map.of("timestep_spaceing", "leading")));
        assertTrue(e.getMessage().contains("timestep_spaceing"), e.getMessage());
        JDiffusionException bad = assertThrows(JDiffusionException.class,
                () -> Schedulers.create("DDIM", SOURCE, Map.of("timestep_spacing", "sideways")));
        assertTrue(bad.getMessage().contains("timestep_spacing") && bad.getMessage().contains("trailing"), bad.getMessage());
    }

    @Test
    void readsConfigFilesWithPythonInfinity(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("scheduler_config.json");
        Files.writeString(file, "{\"_class_name\": \"DPMSolverMultistepScheduler\", \"lambda_min_clipped\": -Infinity,"
                + " \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085, \"beta_end\": 0.012}");
        Scheduler s = Schedulers.fromFile(file, Map.of());
        assertInstanceOf(DPMSolverMultistepScheduler.class, s);
        assertEquals(Double.NEGATIVE_INFINITY, s.config().lambdaMinClipped());
        Files.writeString(file, "{\"beta_schedule\": \"cosine\"}");
        JDiffusionException e = assertThrows(JDiffusionException.class, () -> Schedulers.create("DDIM", file, Map.of()));
        assertTrue(e.getMessage().contains("beta_schedule") && e.getMessage().contains("squaredcos_cap_v2"), e.getMessage());
    }

    @Test
    void img2imgStartsAtTheRightTimestep() {
        // diffusers' get_timesteps: timesteps[t_start * order:] with t_start = steps - min(int(steps * strength), steps)
        try (SchedulerRun pndm = Schedulers.create("PLMS", SOURCE, Map.of()).startImg2Img(4, 0.75)) {
            assertEquals(4, pndm.size());   // Pitfall 4: [501, 501, 251, 1]
            assertEquals(501, pndm.timestepValue(0));
            assertEquals(501, pndm.timestepValue(1));
            // what the UNet gets: a 0-dim int64 tensor for PNDM, 0-dim float32 for Euler-style schedulers
            assertEquals(0, pndm.timestep(0).dim());
            assertFalse(pndm.timestep(0).is_floating_point());
        }
        try (SchedulerRun heun = Schedulers.create("Heun", SOURCE, Map.of()).startImg2Img(4, 0.5)) {
            assertEquals(3, heun.size());   // [999, 666, 666, 333, 333, 0, 0] from index t_start * order = 4
            assertEquals(333, heun.timestepValue(0));
            assertEquals(0, heun.timestepValue(2));
        }
        try (SchedulerRun full = Schedulers.create("Euler a", SOURCE, Map.of()).startImg2Img(10, 1.0)) {
            assertEquals(10, full.size());
            assertEquals(0, full.timestep(0).dim());
            assertTrue(full.timestep(0).is_floating_point());
        }
        assertThrows(JDiffusionException.class, () -> Schedulers.create("Euler a", SOURCE, Map.of()).startImg2Img(4, 0.1));
        assertThrows(JDiffusionException.class, () -> Schedulers.create("Euler a", SOURCE, Map.of()).startImg2Img(4, 1.5));
    }

    @Test
    void cliListsTheSamplers() {
        StringWriter out = new StringWriter();
        CommandLine cli = Main.commandLine();
        cli.setOut(new PrintWriter(out));
        assertEquals(0, cli.execute("samplers"));
        String text = out.toString();
        assertTrue(text.contains("DPM++ 2M Karras") && text.contains("use_karras_sigmas=true"), text);
        assertTrue(text.matches("(?s).*Euler a\\s+EulerAncestralDiscreteScheduler\\s+-\\s+yes.*"), text);
        assertTrue(text.matches("(?s).*PLMS\\s+PNDMScheduler\\s+-\\s+no.*"), text);
    }
}
