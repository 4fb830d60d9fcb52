package jdiffusion.models.vae;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tools.bench.RandomModel;
import jdiffusion.tools.bench.RandomPipelineFolder;
import jdiffusion.cli.CliRunner;
import jdiffusion.image.Images;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TAESD ({@link AutoencoderTiny}) against a float64 reference written here from diffusers'
 * definitions (vae.py EncoderTiny/DecoderTiny, unet_2d_blocks.py AutoencoderTinyBlock) with plain
 * torch ops on the state dict by name - not through the module classes - on a random model of
 * madebyollin/taesd's config; then loading from a taesd folder and decoding in the pipeline.
 */
class AutoencoderTinyTest {
    /** madebyollin/taesd's config.json as published (diffusers 0.20 era). */
    static final String TAESD_CONFIG = """
            {
              "_class_name": "AutoencoderTiny",
              "_diffusers_version": "0.20.0.dev0",
              "act_fn": "relu",
              "decoder_block_out_channels": [64, 64, 64, 64],
              "encoder_block_out_channels": [64, 64, 64, 64],
              "force_upcast": false,
              "in_channels": 3,
              "latent_channels": 4,
              "latent_magnitude": 3,
              "latent_shift": 0.5,
              "num_decoder_blocks": [3, 3, 3, 1],
              "num_encoder_blocks": [1, 3, 3, 3],
              "out_channels": 3,
              "scaling_factor": 1.0,
              "upsampling_scaling_factor": 2
            }
            """;

    private static AutoencoderTiny model;
    private static Map<String, Tensor> reference; // the model's tensors in float64, by diffusers name

    @TempDir
    Path dir;

    @BeforeAll
    static void build() {
        model = AutoencoderTiny.createRandom(AutoencoderTinyConfig.taesd(), 5, ScalarType.Float, Tensors.CPU);
        reference = new LinkedHashMap<>();
        ModuleTensors.namedTensors(model).forEach((k, v) -> reference.put(k, v.detach().to(ScalarType.Double).contiguous()));
    }

    @AfterAll
    static void close() {
        if (model != null) model.close();
    }

    // ---- the float64 reference ----

    private static Tensor conv(Tensor x, String name, long stride) {
        long k = reference.get(name + ".weight").size(2);
        Tensor bias = reference.get(name + ".bias");
        return torch.conv2d(x, reference.get(name + ".weight"), bias == null ? new TensorOptional() : new TensorOptional(bias),
                new long[] {stride, stride}, new long[] {k / 2, k / 2}, new long[] {1, 1}, 1);
    }

    /** AutoencoderTinyBlock: relu(conv.4(relu(conv.2(relu(conv.0(x))))) + skip(x)). */
    private static Tensor block(Tensor x, String p) {
        Tensor h = conv(conv(conv(x, p + ".conv.0", 1).relu(), p + ".conv.2", 1).relu(), p + ".conv.4", 1);
        Tensor skip = reference.containsKey(p + ".skip.weight") ? conv(x, p + ".skip", 1) : x;
        return h.add(skip).relu();
    }

    /** DecoderTiny in float64: clamp, Sequential by index, [0, 1] -> [-1, 1]. */
    static Tensor referenceDecode(Tensor z, AutoencoderTinyConfig c) {
        Tensor x = z.to(ScalarType.Double).div(new Scalar(3.0)).tanh().mul(new Scalar(3.0));
        x = conv(x, "decoder.layers.0", 1).relu();
        int i = 2;
        for (int b = 0; b < c.numDecoderBlocks().size(); b++) {
            for (int j = 0; j < c.numDecoderBlocks().get(b); j++) x = block(x, "decoder.layers." + i++);
            if (b < c.numDecoderBlocks().size() - 1) { // nn.Upsample(scale_factor=2, mode="nearest"): each pixel twice each way
                long n = x.size(0), ch = x.size(1), h = x.size(2), w = x.size(3);
                x = x.reshape(n, ch, h, 1, w, 1).expand(n, ch, h, 2, w, 2).reshape(n, ch, 2 * h, 2 * w);
                i++;
            }
            x = conv(x, "decoder.layers." + i++, 1);
        }
        return x.mul(new Scalar(2.0)).sub(new Scalar(1.0));
    }

    /** EncoderTiny in float64: [-1, 1] -> [0, 1], Sequential by index, the later blocks' first conv at stride 2. */
    static Tensor referenceEncode(Tensor image, AutoencoderTinyConfig c) {
        Tensor x = image.to(ScalarType.Double).add(new Scalar(1.0)).div(new Scalar(2.0));
        int i = 0;
        for (int b = 0; b < c.numEncoderBlocks().size(); b++) {
            x = conv(x, "encoder.layers." + i++, b == 0 ? 1 : 2);
            for (int j = 0; j < c.numEncoderBlocks().get(b); j++) x = block(x, "encoder.layers." + i++);
        }
        return conv(x, "encoder.layers." + i, 1);
    }

    /**
     * Float32 against float64: each conv sums up to 64*9 = 576 products, whose float32 rounding is
     * about sqrt(576) * 2^-24 relative (~1.4e-6); through the decoder's 17 convolutions in a row the
     * errors add up to a few 1e-5 of the activations' size. Bound: 1e-4 of the output's range.
     */
    private static void assertClose(Tensor got, Tensor expected, double relative, String what) {
        double range = Tensors.maxAbs(expected);
        double d = Tensors.maxAbsDiff(got.to(ScalarType.Double), expected);
        System.out.printf("%-40s max|diff| = %.3e (output range %.3f)%n", what, d, range);
        assertTrue(range > 1e-3, what + ": the reference output is ~0; the test would show nothing");
        assertTrue(d <= relative * range, what + ": max|diff| " + d + " > " + relative + " x " + range);
    }

    @Test
    void decodeAndEncodeMatchTheFloat64Reference() {
        try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            TorchGenerator gen = new TorchGenerator(9);
            Tensor z = gen.randn(2, 4, 8, 12).mul(new Scalar(2.0)); // beyond +-3 too: the tanh clamp matters
            Tensor image = model.decode(z);
            assertEquals("[2, 3, 64, 96]", Tensors.shapeString(image));
            Tensor expected = referenceDecode(z, model.config());
            // the image must not be a constant: the random weights keep a signal through 19 layers
            assertTrue(expected.std().item_double() > 1e-4, "reference decode is flat");
            assertClose(image, expected, 1e-4, "decode fp32 vs float64");

            Tensor picture = gen.rand(1, 3, 64, 48).mul(new Scalar(2.0)).sub(new Scalar(1.0));
            Tensor latents = model.encode(picture);
            assertEquals("[1, 4, 8, 6]", Tensors.shapeString(latents));
            assertClose(latents, referenceEncode(picture, model.config()), 1e-4, "encode fp32 vs float64");

            var e = assertThrows(JDiffusionException.class, () -> model.decode(gen.randn(1, 3, 8, 8)));
            assertTrue(e.getMessage().contains("expects [B, 4, h, w]"), e.getMessage());
        }
    }

    /**
     * bf16 weights and activations (what --dtype bf16 decodes with): each of the ~20 layers rounds to
     * 8 significant bits (2^-8 relative), errors growing at worst linearly: 20 x 2^-8 ~ 8 % of the range.
     */
    @Test
    void bf16DecodeStaysWithinBf16Rounding() {
        AutoencoderTiny bf16 = AutoencoderTiny.createRandom(AutoencoderTinyConfig.taesd(), 5, ScalarType.BFloat16, Tensors.CPU);
        try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            Tensor z = new TorchGenerator(9).randn(1, 4, 8, 8).mul(new Scalar(2.0));
            Tensor image = bf16.decode(z);
            assertEquals(ScalarType.BFloat16.value, image.scalar_type().value);
            assertClose(image, referenceDecode(z, bf16.config()), 20 * Math.pow(2, -8), "decode bf16 vs float64");
        } finally {
            bf16.close();
        }
    }

    /** The random model written as madebyollin/taesd lays it out (config.json + diffusion_pytorch_model.safetensors). */
    static Path writeTaesdFolder(Path folder, AutoencoderTiny m, String config) throws Exception {
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("config.json"), config);
        try (PointerScope s = new PointerScope()) {
            SafetensorsWriter.write(folder.resolve("diffusion_pytorch_model.safetensors"), ModuleTensors.namedTensors(m),
                    Map.of("format", "pt"));
        }
        return folder;
    }

    @Test
    void loadsATaesdFolderWithDiffusersNamesAndRefusesBrokenOnes() throws Exception {
        Path folder = writeTaesdFolder(dir.resolve("taesd"), model, TAESD_CONFIG);
        assertTrue(AutoencoderTiny.isTinyFolder(folder));
        assertFalse(AutoencoderTiny.isTinyFolder(dir.resolve("nothing")));
        Map<String, Tensor> names = ModuleTensors.namedTensors(model);
        // the published file's layout: 15 encoder layers, 19 decoder layers, bias-free stride-2 and post-upsample convs
        for (String k : List.of("encoder.layers.0.weight", "encoder.layers.2.weight", "encoder.layers.1.conv.4.bias",
                "encoder.layers.14.bias", "decoder.layers.0.weight", "decoder.layers.6.weight", "decoder.layers.17.conv.0.weight",
                "decoder.layers.18.bias")) {
            assertTrue(names.containsKey(k), k);
        }
        for (String k : List.of("encoder.layers.2.bias", "decoder.layers.6.bias", "decoder.layers.1.weight", "decoder.layers.5.weight")) {
            assertFalse(names.containsKey(k), k);
        }
        // 1,222,532 encoder + 1,222,531 decoder: 10 blocks of 3 biased 64x64 3x3 convs a side, three bias-free convs
        assertEquals(2_445_063L, names.values().stream().mapToLong(Tensor::numel).sum(), "TAESD's parameter count");

        AutoencoderTiny loaded = AutoencoderTiny.load(folder, ScalarType.Float, Tensors.CPU);
        try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
            Tensor z = new TorchGenerator(3).randn(1, 4, 8, 8);
            assertEquals(0.0, Tensors.maxAbsDiff(loaded.decode(z), model.decode(z)), "loaded = written");
        } finally {
            loaded.close();
        }

        // broken folders: one line that names the problem
        Path silu = writeTaesdFolder(dir.resolve("silu"), model, TAESD_CONFIG.replace("\"relu\"", "\"silu\""));
        var e = assertThrows(JDiffusionException.class, () -> AutoencoderTiny.load(silu, ScalarType.Float, Tensors.CPU));
        assertTrue(e.getMessage().contains("act_fn") && e.getMessage().contains("silu"), e.getMessage());
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Files.writeString(empty.resolve("config.json"), TAESD_CONFIG);
        e = assertThrows(JDiffusionException.class, () -> AutoencoderTiny.load(empty, ScalarType.Float, Tensors.CPU));
        System.out.println(e.getMessage());
        Path partial = Files.createDirectories(dir.resolve("partial"));
        Files.writeString(partial.resolve("config.json"), TAESD_CONFIG);
        try (PointerScope s = new PointerScope()) {
            Map<String, Tensor> some = new LinkedHashMap<>(ModuleTensors.namedTensors(model));
            some.remove("decoder.layers.18.bias");
            SafetensorsWriter.write(partial.resolve("diffusion_pytorch_model.safetensors"), some, Map.of());
        }
        e = assertThrows(JDiffusionException.class, () -> AutoencoderTiny.load(partial, ScalarType.Float, Tensors.CPU));
        assertTrue(e.getMessage().contains("decoder.layers.18.bias"), e.getMessage());
    }

    /**
     * {@code --vae TAESD_FOLDER} on a random SD-structured model (latents 8x smaller): the image is
     * TAESD's decode of the final latents, the VAE's own decode differs, and a TAESD of another
     * upscale factor is refused.
     */
    @Test
    void pipelineDecodesWithTaesdWhenItsFolderIsGivenAsVae() throws Exception {
        Path sd = dir.resolve("sd");
        RandomPipelineFolder.create(RandomModel.TINY, sd, ScalarType.Float, 0, null, line -> {});
        Path taesd = writeTaesdFolder(dir.resolve("taesd"), model, TAESD_CONFIG);
        GenerationRequest request = GenerationRequest.builder("a red circle").steps(2).width(64).height(64).seed(1).build();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(sd.toString(), PipelineOptions.defaults().withVae(taesd))) {
            assertTrue(pipe.tinyDecoder() != null);
            GenerationResult r = pipe.generate(request);
            BufferedImage got = r.images().getFirst();
            assertEquals(64, got.getWidth());
            try (PointerScope s = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                BufferedImage expected = Images.fromTensor(model.decode(r.finalLatents()).to(ScalarType.Float))[0];
                BufferedImage viaVae = Images.fromTensor(pipe.vae().decode(r.finalLatents().div(
                        new Scalar(pipe.vae().scalingFactor()))).to(ScalarType.Float))[0];
                assertEquals(0, differingPixels(got, expected), "the pipeline's image is TAESD's decode");
                assertTrue(differingPixels(got, viaVae) > 0, "and not the VAE's");
            }
        }
        AutoencoderTinyConfig c = AutoencoderTinyConfig.taesd();
        AutoencoderTiny fourX = AutoencoderTiny.createRandom(new AutoencoderTinyConfig(3, 3, List.of(64, 64, 64),
                List.of(64, 64, 64), "relu", "nearest", 4, 2, List.of(1, 3, 3), List.of(3, 3, 1), 3, 0.5, false, 1.0, 0.0),
                1, ScalarType.Float, Tensors.CPU);
        Path wrong = writeTaesdFolder(dir.resolve("taesd-4x"), fourX, TAESD_CONFIG
                .replace("[64, 64, 64, 64]", "[64, 64, 64]").replace("[3, 3, 3, 1]", "[3, 3, 1]").replace("[1, 3, 3, 3]", "[1, 3, 3]"));
        fourX.close();
        var e = assertThrows(JDiffusionException.class,
                () -> StableDiffusionPipeline.load(sd.toString(), PipelineOptions.defaults().withVae(wrong)).close());
        assertTrue(e.getMessage().contains("another model family"), e.getMessage());
        assertEquals(8, c.upscaleFactor());
    }

    /** The CLI flags of the fast path: {@code --vae TAESD_FOLDER --dtype auto}; a broken TAESD folder is one error line. */
    @Test
    void cliTakesATaesdFolderAsVaeWithDtypeAuto() throws Exception {
        Path sd = dir.resolve("sd");
        RandomPipelineFolder.create(RandomModel.TINY, sd, ScalarType.Half, 0, null, line -> {});
        Path taesd = writeTaesdFolder(dir.resolve("taesd"), model, TAESD_CONFIG);
        Path png = dir.resolve("out.png");
        CliRunner r = CliRunner.run("txt2img", "--model", sd.toString(), "--vae", taesd.toString(), "--dtype", "auto",
                "--steps", "2", "--width", "64", "--height", "48", "--seed", "3", "--quiet", "--out", png.toString(), "a red circle");
        assertEquals(0, r.exitCode(), r.err());
        BufferedImage img = Images.read(png);
        assertEquals(64, img.getWidth());
        assertEquals(48, img.getHeight());

        Path broken = writeTaesdFolder(dir.resolve("broken"), model, TAESD_CONFIG.replace("\"act_fn\": \"relu\",",
                "\"act_fn\": \"relu\", \"upsample_fn\": \"bilinear\","));
        r = CliRunner.run("txt2img", "--model", sd.toString(), "--vae", broken.toString(), "--steps", "2", "--width", "64",
                "--height", "64", "--quiet", "--out", dir.resolve("no.png").toString(), "a red circle");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("upsample_fn") && r.err().strip().lines().count() == 1, r.err());
        assertFalse(Files.exists(dir.resolve("no.png")));
    }

    private static int differingPixels(BufferedImage a, BufferedImage b) {
        int n = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                if (a.getRGB(x, y) != b.getRGB(x, y)) n++;
            }
        }
        return n;
    }
}
