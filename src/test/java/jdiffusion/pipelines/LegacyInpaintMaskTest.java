package jdiffusion.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import jdiffusion.image.Images;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.PipelineWriter;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Legacy (blend) inpainting with a 4-channel UNet prepares its mask as diffusers'
 * StableDiffusionInpaintPipelineLegacy.preprocess_mask does, for any vae_scale_factor:
 * {@code mask.convert("L").resize((w // f, h // f), NEAREST) / 255}, not binarised, then {@code 1 - mask}.
 */
class LegacyInpaintMaskTest {
    @TempDir
    Path dir;

    /** diffusers' formula written out independently: PIL NEAREST takes the source pixel under each output pixel's centre. */
    private static float[] diffusersKeep(BufferedImage mask, int f) {
        int w = mask.getWidth() / f;
        int h = mask.getHeight() / f;
        float[] keep = new float[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = mask.getRGB((int) Math.floor((x + 0.5) * f), (int) Math.floor((y + 0.5) * f));
                int r = rgb >> 16 & 0xff;
                int g = rgb >> 8 & 0xff;
                int b = rgb & 0xff;
                // PIL "L": L = R * 299/1000 + G * 587/1000 + B * 114/1000, rounded (fixed point 19595/38470/7471 >> 16)
                double l = Math.floor((r * 19595 + g * 38470 + b * 7471 + 32768) / 65536.0);
                keep[y * w + x] = (float) (1 - l / 255.0);
            }
        }
        return keep;
    }

    /** A mask whose edges fall on odd pixels (so every factor's sampling position matters), with a grey band and colour. */
    private static BufferedImage mask(int width, int height) {
        BufferedImage m = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int rgb;
                if (x >= 13 && x < 37 && y >= 5 && y < 27) rgb = 0xffffff;
                else if (x >= 41 && y % 8 >= 3) rgb = 0x808080; // grey: half repainted, not rounded to 0 or 1
                else if (y >= 29 && x < 7) rgb = 0x30c050;
                else rgb = 0;
                m.setRGB(x, y, rgb);
            }
        }
        return m;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 8, 16})
    void theMaskHelperIsDiffusersFormula(int f) {
        BufferedImage m = mask(64, 48);
        try (PointerScope scope = new PointerScope()) {
            float[] got = Tensors.toFloats(Images.legacyInpaintKeepMask(m, 64 / f, 48 / f));
            float[] expected = diffusersKeep(m, f);
            assertEquals(expected.length, got.length);
            for (int i = 0; i < got.length; i++) assertEquals(expected[i], got[i], 1e-6f, "f=" + f + " latent pixel " + i);
        }
    }

    /**
     * End to end on the shipped tiny model (vae_scale_factor 4) and on copies with a random VAE of factor
     * 2 and 8: where diffusers' mask keeps the image, the final latents are the image's own (the legacy
     * pipeline's last blend), and where it repaints they are not.
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 4, 8})
    void legacyInpaintingKeepsExactlyWhereDiffusersMaskSays(int f) throws IOException {
        Path model = f == 4 ? Path.of("models/tiny-shapes") : withVaeFactor(f);
        int width = 64;
        int height = 48;
        BufferedImage init = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) for (int x = 0; x < width; x++) init.setRGB(x, y, (x * 4) << 16 | (y * 5) << 8 | 90);
        BufferedImage m = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) for (int x = 0; x < width; x++) if (x >= 13 && x < 37 && y >= 5 && y < 27) m.setRGB(x, y, 0xffffff);
        long seed = 11;
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(model.toString(), PipelineOptions.defaults());
             PointerScope scope = new PointerScope()) {
            assertEquals(f, pipe.vaeScaleFactor());
            GenerationResult r = pipe.generate(GenerationRequest.builder("a red circle").initImage(init).mask(m)
                    .strength(0.75).steps(4).guidanceScale(1.0).seed(seed).size(width, height).build());
            // the pipeline's first draw is the VAE sample of the init image (diffusers' prepare_latents)
            Tensor initLatents = pipe.vae().encode(Images.toTensor(init)).sample(new TorchGenerator(seed))
                    .to(ScalarType.Float).mul(new Scalar(pipe.vae().scalingFactor()));
            float[] diff = Tensors.toFloats(r.finalLatents().sub(initLatents).abs().amax(new long[] {0, 1}, false));
            float[] keep = diffusersKeep(m, f);
            int kept = 0;
            int repainted = 0;
            for (int i = 0; i < keep.length; i++) {
                if (keep[i] == 1f) {
                    assertTrue(diff[i] < 1e-5f, "f=" + f + ": latent pixel " + i + " should be the image's, differs by " + diff[i]);
                    kept++;
                } else {
                    assertTrue(diff[i] > 1e-3f, "f=" + f + ": latent pixel " + i + " should be repainted");
                    repainted++;
                }
            }
            assertTrue(kept > 0 && repainted > 0);
        }
    }

    /** models/tiny-shapes with its VAE replaced by a random one of the same kind with another downscale factor. */
    private Path withVaeFactor(int f) throws IOException {
        Path source = Path.of("models/tiny-shapes");
        Path copy = dir.resolve("tiny-f" + f);
        try (Stream<Path> files = Files.walk(source)) {
            for (Path p : files.toList()) {
                Path target = copy.resolve(source.relativize(p).toString());
                if (p.startsWith(source.resolve("vae"))) continue;
                if (Files.isDirectory(p)) Files.createDirectories(target);
                else Files.copy(p, target);
            }
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(source.resolve("vae/config.json").toFile());
        int levels = Integer.numberOfTrailingZeros(f) + 1;
        ArrayNode channels = config.putArray("block_out_channels");
        ArrayNode down = config.putArray("down_block_types");
        ArrayNode up = config.putArray("up_block_types");
        for (int i = 0; i < levels; i++) {
            channels.add(16 << Math.min(i, 2));
            down.add(AutoencoderKLConfig.DOWN_ENCODER);
            up.add(AutoencoderKLConfig.UP_DECODER);
        }
        Path configFile = Files.writeString(dir.resolve("vae-f" + f + ".json"), json.writeValueAsString(config));
        AutoencoderKL vae = AutoencoderKL.createRandom(AutoencoderKLConfig.fromJson(configFile), 5, ScalarType.Float, Tensors.CPU);
        PipelineWriter.writeVae(Files.createDirectories(copy.resolve("vae")), vae, ScalarType.Float);
        return copy;
    }
}
