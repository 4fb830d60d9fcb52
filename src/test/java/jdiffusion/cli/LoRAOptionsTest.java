package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.image.Images;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.lora.LoRASpec;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --lora, --lora-dir, --vae and --vae-tiling through the CLI. */
class LoRAOptionsTest {
    @TempDir
    Path dir;

    private Path lora(String name) {
        TorchGenerator g = new TorchGenerator(1);
        Tensor down = g.randn(4, 32);
        Tensor up = g.randn(32, 4);
        String stem = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
        Path p = dir.resolve(name + ".safetensors");
        SafetensorsWriter.write(p, Map.of(stem + ".lora_down.weight", down, stem + ".lora_up.weight", up), Map.of());
        return p;
    }

    private List<String> args(String out, String prompt) {
        return new ArrayList<>(List.of("txt2img", "--model", Golden.model("sd1-tiny-pipeline").toString(), "--quiet",
                "--prompt", prompt, "--steps", "2", "--seed", "1", "--out", dir.resolve(out).toString()));
    }

    @Test
    void loraValuesAreFilesOrNamesWithAnOptionalScale() throws Exception {
        Path f = lora("style");
        assertEquals(LoRASpec.file(f, 0.7), GenerationOptions.parseLora(f + ":0.7"));
        assertEquals(LoRASpec.file(f, 1.0), GenerationOptions.parseLora(f.toString()));
        assertEquals(LoRASpec.named("style", 0.5), GenerationOptions.parseLora("style:0.5"));
        assertEquals(LoRASpec.named("style", 1.0), GenerationOptions.parseLora("style"));
        assertEquals(LoRASpec.file(Path.of("C:\\loras\\a.safetensors"), 1.0), GenerationOptions.parseLora("C:\\loras\\a.safetensors"));
        assertEquals(LoRASpec.file(Path.of("missing.safetensors"), 2.0), GenerationOptions.parseLora("missing.safetensors:2"));
    }

    @Test
    void theOptionTheTagAndTheirParameters() throws Exception {
        Path f = lora("style");
        CliRunner byOption = CliRunner.run(with(args("a.png", "a red circle"), "--lora", f + ":0.5"));
        assertEquals(0, byOption.exitCode(), byOption.err());
        CliRunner byTag = CliRunner.run(with(args("b.png", "a red circle <lora:style:0.5>"), "--lora-dir", dir.toString()));
        assertEquals(0, byTag.exitCode(), byTag.err());
        CliRunner byName = CliRunner.run(with(args("c.png", "a red circle"), "--lora", "style:0.5", "--lora-dir", dir.toString()));
        assertEquals(0, byName.exitCode(), byName.err());
        CliRunner none = CliRunner.run(args("d.png", "a red circle").toArray(String[]::new));
        GenerateCommandTest.assertSamePixels(Images.read(dir.resolve("a.png")), Images.read(dir.resolve("b.png")));
        GenerateCommandTest.assertSamePixels(Images.read(dir.resolve("a.png")), Images.read(dir.resolve("c.png")));
        assertTrue(differ(Images.read(dir.resolve("a.png")), Images.read(dir.resolve("d.png"))), "the LoRA changes the image");

        String info = CliRunner.run("info", dir.resolve("b.png").toString()).out();
        assertTrue(info.contains("<lora:style:0.5>") && info.matches("(?s).*Lora hashes: \"style: [0-9a-f]{12}\".*"), info);
        // --from re-applies the prompt's tag (given the folder)
        CliRunner again = CliRunner.run("txt2img", "--model", Golden.model("sd1-tiny-pipeline").toString(), "--quiet",
                "--from", dir.resolve("b.png").toString(), "--lora-dir", dir.toString(), "--out", dir.resolve("e.png").toString());
        assertEquals(0, again.exitCode(), again.err());
        GenerateCommandTest.assertSamePixels(Images.read(dir.resolve("b.png")), Images.read(dir.resolve("e.png")));

        CliRunner bad = CliRunner.run(with(args("x.png", "a red circle"), "--lora", dir.resolve("nope.safetensors").toString()));
        assertEquals(2, bad.exitCode());
        assertTrue(bad.err().contains("does not exist"), bad.err());
        CliRunner noDir = CliRunner.run(args("x.png", "a <lora:style>").toArray(String[]::new));
        assertEquals(2, noDir.exitCode());
        assertTrue(noDir.err().contains("--lora-dir"), noDir.err());
        assertTrue(!Files.exists(dir.resolve("x.png")));
    }

    @Test
    void vaeAndVaeTiling() {
        Path vae = Golden.model("sd1-tiny-pipeline").resolve("vae/diffusion_pytorch_model.safetensors");
        CliRunner swapped = CliRunner.run(with(args("v.png", "a red circle"), "--vae", vae.toString()));
        assertEquals(0, swapped.exitCode(), swapped.err());
        CliRunner own = CliRunner.run(args("o.png", "a red circle").toArray(String[]::new));
        assertEquals(0, own.exitCode(), own.err());
        GenerateCommandTest.assertSamePixels(Images.read(dir.resolve("o.png")), Images.read(dir.resolve("v.png")));
        assertTrue(CliRunner.run("info", dir.resolve("v.png").toString()).out().contains("VAE: diffusion_pytorch_model.safetensors"));

        CliRunner tiled = CliRunner.run(with(args("t.png", "a red circle"), "--vae-tiling", "--width", "64", "--height", "64"));
        assertEquals(0, tiled.exitCode(), tiled.err());
        CliRunner untiled = CliRunner.run(with(args("u.png", "a red circle"), "--no-vae-tiling", "--width", "64", "--height", "64"));
        assertEquals(0, untiled.exitCode(), untiled.err());
        assertTrue(differ(Images.read(dir.resolve("t.png")), Images.read(dir.resolve("u.png"))), "--vae-tiling tiles a 64x64 image");

        CliRunner bad = CliRunner.run(with(args("y.png", "a red circle"), "--vae", Golden.model("sd1-tiny-pipeline").toString()));
        assertEquals(2, bad.exitCode());
        assertTrue(bad.err().contains("pass its VAE"), bad.err());
    }

    private static String[] with(List<String> args, String... more) {
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    private static boolean differ(java.awt.image.BufferedImage a, java.awt.image.BufferedImage b) {
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                if (a.getRGB(x, y) != b.getRGB(x, y)) return true;
            }
        }
        return false;
    }
}
