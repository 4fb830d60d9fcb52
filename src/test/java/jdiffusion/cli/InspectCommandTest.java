package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import jdiffusion.Golden;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {
    @Test
    void describesEveryGoldenModelFolder() throws Exception {
        try (Stream<Path> models = Files.list(Golden.root().resolve("models"))) {
            for (Path m : models.sorted().toList()) {
                CliRunner r = CliRunner.run("inspect", m.toString());
                assertEquals(0, r.exitCode(), m + ": " + r.err());
                assertTrue(r.out().contains("parameters:"), m + ": " + r.out());
            }
        }
        CliRunner r = CliRunner.run("inspect", Golden.model("sd1-tiny-pipeline").toString());
        assertTrue(r.out().contains("unet: UNet2DConditionModel"), r.out());
        assertTrue(r.out().contains("parameters: 2,164,452"), r.out());
        assertTrue(r.out().contains("scaling_factor=0.18215"), r.out());
        assertTrue(r.out().contains("class=PNDMScheduler"), r.out());
    }

    @Test
    void describesASingleSafetensorsFile() {
        Path file = Golden.model("sd1-tiny-pipeline").resolve("vae/diffusion_pytorch_model.safetensors");
        CliRunner r = CliRunner.run("inspect", file.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("tensors: 156") && r.out().contains("decoder="), r.out());
    }

    @Test
    void badInputGetsOneClearLine(@TempDir Path dir) throws Exception {
        CliRunner r = CliRunner.run("inspect", dir.resolve("missing").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().startsWith("error: ") && r.err().strip().lines().count() == 1, r.err());
        Path junk = dir.resolve("junk.safetensors");
        Files.writeString(junk, "this is not a safetensors file at all");
        r = CliRunner.run("inspect", junk.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("not a valid safetensors file"), r.err());
    }
}
