package jdiffusion.tools.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.lora.LoRASpec;
import jdiffusion.models.vae.AutoencoderTiny;
import jdiffusion.models.vae.AutoencoderTinyConfig;
import jdiffusion.pipelines.GenerationRequest;
import jdiffusion.pipelines.GenerationResult;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * {@code bench --fast-path}: the CPU fast path of docs/speed.md end to end, load excluded, on a random
 * model: an LCM-LoRA-shaped file (random rank-64 fp16 factors on every weight diffusers' LCM-LoRA
 * distillation targets), LCM, 4 steps, guidance 1, then the VAE decode and, beside it, a random TAESD
 * decode of the same latents. The first request pays the LoRA merge; the second finds it kept
 * ({@code LoRASession.keepMerged}, as the server runs), which is what a user of the server waits for.
 */
public final class FastPathBenchmark {
    /** PEFT target suffixes of diffusers' train_lcm_distill_lora_sd_wds.py (278 weights of the SD 1.5 UNet). */
    static final List<String> LCM_TARGETS = List.of("to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out",
            "ff.net.0.proj", "ff.net.2", "conv1", "conv2", "conv_shortcut", "downsamplers.0.conv", "upsamplers.0.conv",
            "time_emb_proj");
    static final int RANK = 64;

    /**
     * @param firstSeconds   the first request: merge + text + 4 steps + VAE decode
     * @param keptSeconds    the same request again with the LoRA kept merged
     * @param vaeSeconds     the VAE decode of the final latents alone
     * @param taesdSeconds   a TAESD decode of the same latents
     */
    public record Result(String dtype, int size, int loraWeights, double loadSeconds, double firstSeconds,
                         double keptSeconds, double vaeSeconds, double taesdSeconds, long peakRssBytes, boolean finite) {
        /** The kept request with TAESD decoding instead of the VAE. */
        public double keptWithTaesdSeconds() {
            return keptSeconds - vaeSeconds + taesdSeconds;
        }

        public String line() {
            return String.format(Locale.ROOT, "fast path %s %dx%d (LCM-LoRA-shaped, %d weights, rank %d; LCM 4 steps, guidance 1): "
                            + "load %.1f s; first request (with the merge) %.2f s; kept-LoRA request %.2f s (VAE decode %.2f s); "
                            + "with TAESD instead %.2f s (TAESD decode %.2f s); peak RSS %.2f GB",
                    dtype, size, size, loraWeights, RANK, loadSeconds, firstSeconds, keptSeconds, vaeSeconds,
                    keptWithTaesdSeconds(), taesdSeconds, peakRssBytes / 1e9);
        }
    }

    private FastPathBenchmark() {}

    public static Result run(Path model, ScalarType dtype, int size, Path workDir) {
        NativeMemory.trim();
        ProcessMemory.resetPeak();
        long t0 = System.nanoTime();
        try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(model.toString(), new PipelineOptions(dtype, Tensors.CPU, null))) {
            double load = seconds(t0);
            long loadPeak = ProcessMemory.peakResidentBytes();
            Path lora = workDir.resolve("lcm-lora-shaped.safetensors");
            int weights = writeLcmShapedLoRA(pipe, lora);
            // the file stands for one a user downloaded: making it (random factors, the writer's buffers, 0.2 GB
            // above the fast path's own peak) is not part of what is measured
            NativeMemory.trim();
            ProcessMemory.resetPeak();
            pipe.components().loras().keepMerged(true);
            GenerationRequest request = GenerationRequest.builder(Benchmark.PROMPT).sampler("LCM").steps(4).guidanceScale(1)
                    .size(size, size).seed(0).lora(LoRASpec.file(lora, 1.0)).build();
            long a = System.nanoTime();
            pipe.generate(request);
            double first = seconds(a);
            long b = System.nanoTime();
            GenerationResult kept = pipe.generate(request);
            double second = seconds(b);
            pipe.components().loras().restoreBase();

            // built outside any scope (its layers must outlive the scopes around the forwards)
            try (AutoencoderTiny tiny = AutoencoderTiny.createRandom(AutoencoderTinyConfig.taesd(), 0, dtype, Tensors.CPU);
                 PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
                Tensor latents = kept.finalLatents().to(dtype);
                long v = System.nanoTime();
                // as the pipelines decode: freed memory handed back first, and between the decoder's stages
                NativeMemory.trim();
                Tensor scaled = latents.div(new Scalar(pipe.vae().scalingFactor()));
                Tensor image = NativeMemory.trimmingBetweenBlocks(() -> pipe.vae().decode(scaled));
                double vae = seconds(v);
                long t = System.nanoTime();
                Tensor fromTiny = tiny.decode(latents);
                double taesd = seconds(t);
                boolean finite = Benchmark.finite(image) && Benchmark.finite(fromTiny) && Benchmark.finite(kept.finalLatents());
                return new Result(Benchmark.dtypeName(dtype), size, weights, load, first, second, vae, taesd,
                        Math.max(loadPeak, ProcessMemory.peakResidentBytes()), finite);
            }
        }
    }

    /** Random rank-64 fp16 factors, PEFT names, on every LCM-LoRA target the UNet has; returns how many. */
    static int writeLcmShapedLoRA(StableDiffusionPipeline pipe, Path file) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        TorchGenerator g = new TorchGenerator(0);
        try (PointerScope scope = new PointerScope()) {
            for (Map.Entry<String, Tensor> e : ModuleTensors.namedTensors(pipe.unet()).entrySet()) {
                String name = e.getKey();
                if (!name.endsWith(".weight")) continue;
                String module = name.substring(0, name.length() - ".weight".length());
                if (LCM_TARGETS.stream().noneMatch(s -> module.endsWith("." + s))) continue;
                long[] shape = Tensors.shape(e.getValue());
                if (shape.length != 2 && shape.length != 4) continue; // norms share suffixes with nothing here, but be sure
                long outChannels = shape[0], in = shape[1];
                long[] down = shape.length == 2 ? new long[] {RANK, in} : new long[] {RANK, in, shape[2], shape[3]};
                long[] up = shape.length == 2 ? new long[] {outChannels, RANK} : new long[] {outChannels, RANK, 1, 1};
                // small factors: the merged model stays a usable random model (the figures, not the picture, matter)
                Tensor a = g.randn(down).mul(new Scalar(0.01)).to(ScalarType.Half);
                Tensor b2 = g.randn(up).mul(new Scalar(0.01)).to(ScalarType.Half);
                a.retainReference();
                b2.retainReference();
                out.put("unet." + module + ".lora_A.weight", a);
                out.put("unet." + module + ".lora_B.weight", b2);
            }
        }
        if (out.isEmpty()) throw new JDiffusionException("the model's UNet has none of LCM-LoRA's target weights");
        try {
            Files.createDirectories(file.getParent());
            SafetensorsWriter.write(file, out, Map.of("format", "pt"));
        } catch (java.io.IOException e) {
            throw new JDiffusionException("cannot write " + file + ": " + e.getMessage());
        } finally {
            out.values().forEach(Tensor::releaseReference);
        }
        return out.size() / 2;
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }
}
