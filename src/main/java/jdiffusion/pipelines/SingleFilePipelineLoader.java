package jdiffusion.pipelines;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.checkpoint.SingleFileCheckpoint;
import jdiffusion.models.ModelLoading;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.WeightSource;

/**
 * A pipeline straight from a single-file checkpoint (the CompVis/A1111 layout): the weights are
 * read through the same key map as {@code convert}, into the same model classes as a diffusers
 * folder, with no copy on disk. The file holds no tokenizer, so one is named separately.
 */
final class SingleFilePipelineLoader {
    private SingleFilePipelineLoader() {}

    static StableDiffusionPipeline load(Path file, Path tokenizerDir, PipelineOptions options) {
        return new StableDiffusionPipeline(components(file, tokenizerDir, options));
    }

    /** The file's UNet, VAE and text encoder with the named tokenizer, for any pipeline (a depth file's 5-channel UNet too). */
    static StableDiffusionComponents components(Path file, Path tokenizerDir, PipelineOptions options) {
        if (tokenizerDir == null) {
            throw new JDiffusionException(file.getFileName() + " is a single-file checkpoint, which holds no tokenizer: "
                    + "pass --tokenizer DIR (a CLIP tokenizer folder with vocab.json and merges.txt, e.g. the "
                    + "tokenizer/ folder of any diffusers SD model), or convert it with `jdiffusion convert --to diffusers`");
        }
        CLIPTokenizer tokenizer = CLIPTokenizer.load(tokenizerDir);
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            if (!ckpt.hasVae() || !ckpt.hasTextEncoder()) {
                throw new JDiffusionException(file + " holds " + ckpt.summary()
                        + "; a pipeline needs the UNet, the VAE and the text encoder in one file");
            }
            Path configs = Files.createTempDirectory("jdiffusion-single-file");
            try {
                // the small models first, whose float32 builds are converted whole; the UNet last,
                // each of its layers converted as it is built (SD 1.5's is 3.4 GB in float32)
                UNet2DConditionConfig unetConfig = UNet2DConditionConfig.fromJson(write(configs, "unet.json", ckpt.unetConfig()));
                AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(write(configs, "vae.json", ckpt.vaeConfig())));
                ModelLoading.loadWeights(vae, ckpt.vae(), options.dtype(), options.device(), "AutoencoderKL");
                CLIPTextModel text = new CLIPTextModel(ckpt.clipTextConfig());
                ModelLoading.loadWeights(text, ckpt.textEncoder(), options.dtype(), options.device(), "CLIPTextModel");
                UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig, options.dtype());
                ModelLoading.loadWeights(unet, ckpt.unet(), options.dtype(), options.device(), "UNet2DConditionModel");
                SchedulerConfigFile scheduler = SchedulerConfigFile.parse(ckpt.schedulerConfig().toString());
                String name = file.getFileName().toString().replaceFirst("\\.(safetensors|ckpt)$", "");
                StableDiffusionComponents components = new StableDiffusionComponents(name, tokenizer, text, unet, vae, scheduler, options);
                components.loras().restoreFrom(reopened(file, SingleFileCheckpoint::unet),
                        reopened(file, SingleFileCheckpoint::textEncoder));
                return components;
            } finally {
                deleteTree(configs);
            }
        } catch (IOException e) {
            throw new JDiffusionException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** One component's weights of {@code file}, opened again (with the checkpoint, which owns the mapping). */
    private static WeightSource reopened(Path file, Function<SingleFileCheckpoint, StateDict> component) {
        return new WeightSource(List.of(file), () -> {
            SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file);
            try {
                return component.apply(ckpt).closing(ckpt);
            } catch (RuntimeException e) {
                ckpt.close();
                throw e;
            }
        });
    }

    /** The configs go through the same readers (and checks) as a folder's config.json files. */
    private static Path write(Path dir, String name, ObjectNode config) throws IOException {
        return Files.writeString(dir.resolve(name), config.toPrettyString());
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary folder left behind is harmless
        }
    }
}
