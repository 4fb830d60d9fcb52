package jdiffusion.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.lora.LoRAFiles;
import jdiffusion.lora.LoRASpec;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.VAETiling;
import jdiffusion.prompts.LongPromptMode;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** The options txt2img, img2img and inpaint share (diffusers' names, spelled as CLI options). */
final class GenerationOptions {
    @Option(names = "--model", paramLabel = "DIR|ORG/NAME",
            description = "A diffusers folder, a single-file checkpoint (.safetensors/.ckpt, with --tokenizer), or a Hub repo id in the local cache (default: the embedded tiny model).")
    String model;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "A CLIP tokenizer folder, for a single-file --model (which holds none).")
    Path tokenizer;

    @Option(names = "--embedding", paramLabel = "FILE",
            description = "A textual-inversion embedding (sd-concepts-library or A1111; .safetensors, or a .bin/.pt pickle read without running it); its token can be used in prompts. Repeatable.")
    java.util.List<Path> embeddings = new java.util.ArrayList<>();

    @Option(names = "--prompt", description = "What to draw.")
    String prompt;

    @Parameters(arity = "0..1", paramLabel = "PROMPT", description = "The prompt (instead of --prompt).")
    String positionalPrompt;

    @Option(names = "--negative-prompt", description = "What to steer away from (used when guidance > 1).")
    String negativePrompt = "";

    @Option(names = "--seed", description = "Random seed; the same seed gives diffusers' image (default: random).")
    Long seed;

    @Option(names = "--steps", description = "Denoising steps (default: ${DEFAULT-VALUE}).")
    int steps = GenerationRequest.DEFAULT_STEPS;

    @Option(names = {"--guidance-scale", "--cfg-scale"}, description = "Classifier-free guidance; <= 1 turns it off (default: ${DEFAULT-VALUE}).")
    double guidanceScale = GenerationRequest.DEFAULT_GUIDANCE_SCALE;

    @Option(names = "--sampler", paramLabel = "NAME",
            description = "A1111 sampler or diffusers scheduler name (default: the model's); see `jdiffusion samplers`.")
    String sampler;

    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    /** Pixels; 0 when not given (the model's size, or the init image's). */
    int width;

    /** Pixels; 0 when not given (the model's size, or the init image's). */
    int height;

    @Option(names = "--width", paramLabel = "PX", description = "Pixels, a multiple of 8 (default: the model's size).")
    void width(int px) {
        width = positive("--width", px);
    }

    @Option(names = "--height", paramLabel = "PX", description = "Pixels, a multiple of 8 (default: the model's size).")
    void height(int px) {
        height = positive("--height", px);
    }

    /** 0 is no size: it is refused like -64, not taken for "the default" (leave the option out for that). */
    private int positive(String option, int px) {
        if (px <= 0) {
            throw new ParameterException(mixee.commandLine(), option + " must be a positive number of pixels, not " + px
                    + " (leave it out for the model's size)");
        }
        return px;
    }

    @Option(names = "--num-images", description = "Images per prompt (default: ${DEFAULT-VALUE}).")
    int numImages = 1;

    @Option(names = "--eta", description = "DDIM eta (default: ${DEFAULT-VALUE}).")
    double eta;

    @Option(names = "--clip-skip", description = "Text-encoder layers to skip, diffusers' count: 1 = penultimate (A1111 'Clip skip 2').")
    int clipSkip;

    @Option(names = "--long-prompts", paramLabel = "truncate|chunk",
            description = "truncate: diffusers (cut at 77 tokens); chunk: AUTOMATIC1111 (75-token chunks, (word:1.2) emphasis). Default: ${DEFAULT-VALUE}.")
    String longPrompts = "truncate";

    @Option(names = "--out", paramLabel = "FILE|DIR", description = "Output PNG, or a folder for numbered images.")
    Path out;

    @Option(names = "--save-latents", paramLabel = "FILE.safetensors",
            description = "Also write initial_latents and final_latents (float32, final not divided by the VAE scaling factor).")
    Path saveLatents;

    @Option(names = "--from", paramLabel = "IMAGE.png", description = "Take the generation parameters from a PNG that jdiffusion (or A1111) wrote; options given here override them.")
    Path from;

    @Option(names = "--dtype", description = "Compute dtype: fp32 (exact), bf16 (CPU), fp16 (CUDA), or auto (bf16 on a CPU"
            + " with native bf16, else fp32; fp16 on CUDA). Default: ${DEFAULT-VALUE}.")
    String dtype = "fp32";

    @Option(names = "--device", description = "cpu or cuda (default: ${DEFAULT-VALUE}).")
    String device = "cpu";

    @Option(names = "--variant", description = "Weights variant to load, e.g. fp16.")
    String variant;

    @Option(names = "--quiet", description = "No progress bar.")
    boolean quiet;

    @Option(names = "--lora", paramLabel = "FILE[:SCALE]",
            description = "Apply a LoRA (.safetensors, or a .pt/.ckpt/.bin pickle; kohya or diffusers layout) at SCALE (default 1.0); repeatable."
                    + " A NAME instead of a file is looked up in --lora-dir. <lora:NAME:0.8> in the prompt works too.")
    List<String> loras = new ArrayList<>();

    @Option(names = "--lora-dir", paramLabel = "DIR",
            description = "Where <lora:NAME:...> prompt tags find NAME.safetensors, else NAME.pt/.ckpt/.bin (also in subfolders).")
    Path loraDir;

    @Option(names = "--vae", paramLabel = "DIR|FILE",
            description = "Use this VAE instead of the model's: a diffusers VAE folder or a single .safetensors/.ckpt file;"
                    + " a TAESD folder (AutoencoderTiny, madebyollin/taesd) decodes only, fast.")
    Path vae;

    @Option(names = "--vae-tiling", negatable = true,
            description = "Decode/encode in overlapping 512-pixel tiles (bounded memory, slightly different image)."
                    + " Default: only above 1024x1024 pixels; --no-vae-tiling never.")
    Boolean vaeTiling;

    @Option(names = "--deepcache", paramLabel = "N",
            description = "DeepCache: a full UNet call every N steps and only its shallowest layer in between"
                    + " (3: about twice as fast at SD 1.5's sizes, slightly different images; docs/speed.md). Default: 0, off.")
    int deepCache;

    VAETiling vaeTilingMode() {
        return vaeTiling == null ? VAETiling.AUTO : vaeTiling ? VAETiling.ON : VAETiling.OFF;
    }

    /** The --lora values: FILE, FILE:SCALE, NAME or NAME:SCALE (a NAME has no '/', no LoRA file extension and is no file). */
    List<LoRASpec> loraSpecs() {
        List<LoRASpec> out = new ArrayList<>();
        for (String value : loras) out.add(parseLora(value));
        return out;
    }

    static LoRASpec parseLora(String value) {
        String target = value;
        double scale = 1.0;
        int colon = value.lastIndexOf(':');
        if (colon > 0 && colon < value.length() - 1) {
            try {
                scale = Double.parseDouble(value.substring(colon + 1));
                target = value.substring(0, colon);
            } catch (NumberFormatException notAScale) {
                // a path with a colon in it (C:\...): the whole value is the file
            }
        }
        if (!Double.isFinite(scale)) throw new JDiffusionException("--lora " + value + ": the scale must be a finite number");
        Path file = Path.of(target);
        boolean name = !Files.exists(file) && !target.contains("/") && !target.contains("\\") && !LoRAFiles.hasLoRAExtension(target);
        return name ? LoRASpec.named(target, scale) : LoRASpec.file(file, scale);
    }

    LongPromptMode longPromptMode() {
        return switch (longPrompts.toLowerCase(java.util.Locale.ROOT)) {
            case "truncate" -> LongPromptMode.TRUNCATE;
            case "chunk" -> LongPromptMode.CHUNK;
            default -> throw new JDiffusionException("--long-prompts must be truncate or chunk, not " + longPrompts);
        };
    }
}
