package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.image.ImageGrid;
import jdiffusion.io.ModelFolder;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.pipelines.ColorLoss;
import jdiffusion.pipelines.DDIMPipeline;
import jdiffusion.pipelines.DDPMPipeline;
import jdiffusion.pipelines.PixelGuidance;
import jdiffusion.pipelines.PixelRequest;
import jdiffusion.pipelines.PixelResult;
import jdiffusion.pipelines.StepCallback;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion sample}: DDPMPipeline / DDIMPipeline on a pixel-space model, optionally guided. */
@Command(name = "sample", mixinStandardHelpOptions = true,
        description = "Sample a pixel-space diffusion model (diffusers DDPMPipeline/DDIMPipeline folder: unet/ = "
                + "UNet2DModel, scheduler/) into a grid image; the same seed gives diffusers' images.",
        footer = {"%nExamples:",
                "  jdiffusion sample --model google/ddpm-cifar10-32 --sampler DDIM --steps 40 --num-images 8 --seed 1 --out grid.png",
                "  jdiffusion sample --model fashion-model --class-label 3 --sampler DDIM --steps 40 --out class3.png",
                "  jdiffusion sample --model ddpm-model --sampler DDIM --steps 40 --guide-color 0.1,0.9,0.5 --guide-scale 40 --out green.png"})
final class SampleCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR|ORG/NAME",
            description = "A DDPM/DDIM pipeline folder, or a Hub repo id in the local cache.")
    String model;

    @Option(names = "--sampler", paramLabel = "DDPM|DDIM", defaultValue = "DDPM",
            description = "DDPM (ancestral, as DDPMPipeline) or DDIM (as DDIMPipeline) (default: ${DEFAULT-VALUE}).")
    String sampler;

    @Option(names = "--steps", description = "Denoising steps (default: 1000 for DDPM, 50 for DDIM, as diffusers).")
    Integer steps;

    @Option(names = "--eta", defaultValue = "0", description = "DDIM eta: 0 deterministic, 1 DDPM-like (default: ${DEFAULT-VALUE}).")
    double eta;

    @Option(names = "--class-label", paramLabel = "N", description = "The class to draw, for a class-conditioned model.")
    Integer classLabel;

    @Option(names = "--guidance-scale", defaultValue = "1", description = "Classifier-free guidance of a class-conditioned "
            + "model trained with --class-dropout (two UNet passes per step); 1 = off (default: ${DEFAULT-VALUE}).")
    double guidanceScale;

    @Option(names = "--num-images", defaultValue = "8", description = "Images in the batch (default: ${DEFAULT-VALUE}).")
    int numImages;

    @Option(names = "--seed", description = "Random seed (default: random).")
    Long seed;

    @Option(names = "--out", required = true, paramLabel = "GRID.png", description = "Where to write the grid of the images.")
    Path out;

    @Option(names = "--save-tensors", paramLabel = "FILE.safetensors",
            description = "Also write initial_noise [B, C, H, W] and images [B, H, W, C] in [0, 1] (diffusers' output_type='np').")
    Path saveTensors;

    @Option(names = "--guide-color", paramLabel = "R,G,B",
            description = "Steer every step toward this colour (values in [0, 1]): the course's colour loss on the predicted x0.")
    String guideColor;

    @Option(names = "--guide-scale", defaultValue = "40",
            description = "Scale of the guidance loss (the course's guidance_loss_scale; default: ${DEFAULT-VALUE}).")
    double guideScale;

    @Option(names = "--clip-model", paramLabel = "DIR",
            description = "A CLIP folder (CLIPModel config.json + weights, e.g. openai/clip-vit-base-patch32): guide toward --guide-prompt.")
    Path clipModel;

    @Option(names = "--clip-tokenizer", paramLabel = "DIR", description = "The CLIP tokenizer folder (default: --clip-model).")
    Path clipTokenizer;

    @Option(names = "--guide-prompt", description = "The text CLIP guidance steers toward.")
    String guidePrompt;

    @Option(names = "--clip-cuts", defaultValue = "4",
            description = "Random cuts the CLIP loss averages over, as the notebook's n_cuts; 1 = the whole image (default: ${DEFAULT-VALUE}).")
    int clipCuts;

    @Option(names = "--guide-through-unet",
            description = "Let the guidance gradient flow through the UNet too (the course's second variant; slower).")
    boolean guideThroughUnet;

    @Override
    public Integer call() {
        PrintWriter stdout = spec.commandLine().getOut();
        String kind = sampler.toUpperCase(java.util.Locale.ROOT);
        if (!kind.equals("DDPM") && !kind.equals("DDIM")) {
            throw new JDiffusionException("--sampler must be DDPM or DDIM, got " + sampler);
        }
        if (!out.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".png")) {
            throw new JDiffusionException("--out must name a .png file, got " + out);
        }
        long s = seed != null ? seed : new SecureRandom().nextInt() & 0x7fffffffL; // also seeds the CLIP cuts
        if ((clipModel == null) != (guidePrompt == null)) {
            throw new JDiffusionException("CLIP guidance needs both --clip-model and --guide-prompt");
        }
        if (clipModel != null && guideColor != null) {
            throw new JDiffusionException("give either --guide-color or --clip-model/--guide-prompt, not both");
        }
        ClipGuide clip = clipModel == null ? null : ClipGuide.load(clipModel, clipTokenizer, guidePrompt, clipCuts, s);
        PixelGuidance guidance = guideColor != null
                ? new PixelGuidance(ColorLoss.parse(guideColor), guideScale, guideThroughUnet)
                : clip != null ? new PixelGuidance(clip.loss(), guideScale, guideThroughUnet) : null;
        int n = steps != null ? steps : kind.equals("DDPM") ? 1000 : 50;
        PixelRequest request = new PixelRequest(numImages, n, s, classLabel, guidance, guidanceScale);
        Path folder = ModelFolder.locate(model);

        ProgressBar bar = new ProgressBar(System.err, "sampling", n);
        StepCallback progress = (step, total, t, x) -> {
            bar.update(step + 1);
            return null;
        };
        PixelResult result;
        if (kind.equals("DDPM")) {
            try (DDPMPipeline pipe = DDPMPipeline.fromPretrained(folder)) {
                result = pipe.call(request, progress);
            }
        } else {
            try (DDIMPipeline pipe = DDIMPipeline.fromPretrained(folder, eta)) {
                result = pipe.call(request, progress);
            }
        }
        bar.done();
        ImageGrid.writePng(out, ImageGrid.grid(ImageGrid.fromNhwc(result.images())));
        if (saveTensors != null) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("initial_noise", result.initialNoise());
            tensors.put("images", result.images());
            SafetensorsWriter.write(saveTensors, tensors); // through a temporary file
        }
        stdout.printf("Wrote %d images (seed %d, %s, %d steps) to %s%n", numImages, s, kind, n, out);
        if (clip != null) {
            stdout.printf(java.util.Locale.ROOT, "CLIP score (cosine similarity of the samples to the guide prompt, mean): %.4f%n",
                    clip.score(result.images()));
            clip.close();
        }
        if (result.guidanceLoss().length > 0) {
            float[] l = result.guidanceLoss();
            stdout.printf("Guidance loss: first step %.4f, last step %.4f%n", l[0], l[l.length - 1]);
        }
        return 0;
    }
}
