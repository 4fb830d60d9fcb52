package jdiffusion.tools.bench;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.lora.LoRATraining;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.GradientCheckpointing;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The training benchmark ({@code jdiffusion bench-train}, issue 7): seconds per optimiser step and
 * peak resident memory of UNet training, full fine-tune or LoRA, float32 or bf16 autocast, with
 * gradient checkpointing on or off. A step is diffusers' train_dreambooth.py step without the VAE
 * and the text encoder: random latents of the UNet's size and a random context of the text
 * encoder's width, DDPM {@code add_noise} at random timesteps, the epsilon MSE, backward,
 * clipping at 1.0 and AdamW, through {@link Trainer} (what DreamBooth runs).
 *
 * <p>Each configuration runs in a JVM of its own ({@code bench-train --one-run}) unless asked
 * otherwise: in one process the second configuration's peak includes what the first left behind.
 */
public final class TrainingBenchmark {
    /** CLIP's sequence length: the context every SD UNet is trained with. */
    static final int TOKENS = 77;
    /**
     * One configuration.
     *
     * @param model      a diffusers folder (or a Hub id in the local cache); its unet/, vae/config.json
     *                   and scheduler/ are read
     * @param resolution image side in pixels, a multiple of the VAE's factor
     * @param rank       LoRA rank, or 0 for a full fine-tune of the UNet
     * @param trainOnly  with rank 0: train only the UNet parameters whose names start with this
     *                   (the rest frozen), or null for all. {@code conv_in} gives a frozen UNet whose
     *                   backward still runs through every block: the activation memory of LoRA
     *                   without its adapters, and without a full fine-tune's 4x weights of state
     * @param steps      measured steps after the warm-up step, at least 3 (the time is their median)
     */
    public record Setting(String model, int resolution, int batch, int rank, String trainOnly, boolean bf16,
                          boolean gradientCheckpointing, int steps, int threads) {
        public Setting {
            if (resolution <= 0) throw new JDiffusionException("--resolution must be positive, got " + resolution);
            if (batch < 1) throw new JDiffusionException("--batch must be at least 1, got " + batch);
            if (rank < 0) throw new JDiffusionException("--rank must be at least 1, got " + rank);
            if (steps < 3) throw new JDiffusionException("--steps " + steps + ": at least 3 (the step time is a median)");
            if (threads < 1) throw new JDiffusionException("--threads must be at least 1, got " + threads);
            if (rank > 0 && trainOnly != null) throw new JDiffusionException("--train-only is for a fine-tune, not with --lora");
        }

        public boolean lora() {
            return rank > 0;
        }

        /** "full", "lora", or "only PREFIX". */
        String mode() {
            return lora() ? "lora" : trainOnly == null ? "full" : "only " + trainOnly;
        }

        public Setting withGradientCheckpointing(boolean on) {
            return new Setting(model, resolution, batch, rank, trainOnly, bf16, on, steps, threads);
        }

        String describe() {
            return String.format("%s at %dx%d, batch %d, %s, gradient checkpointing %s", mode(),
                    resolution, resolution, batch, bf16 ? "bf16" : "fp32", gradientCheckpointing ? "on" : "off");
        }
    }

    private TrainingBenchmark() {}

    /**
     * Runs each setting, in a JVM of its own unless {@code inProcess}, logging progress to
     * {@code log}; returns the report.
     */
    public static TrainingBenchReport run(List<Setting> settings, boolean inProcess, PrintWriter log) {
        double[] load0 = Cpu.loadAverage();
        List<TrainingBenchRun> runs = new ArrayList<>();
        for (Setting s : settings) {
            log.println("Running " + s.describe() + ", " + s.threads() + " threads...");
            log.flush();
            TrainingBenchRun r = inProcess ? runHere(s) : runIsolated(s);
            log.printf("  step %.3f s, peak RSS %.3f GB (%.3f GB above setup)%n", r.medianStepSeconds(),
                    r.peakRssBytes() / 1e9, r.peakAboveSetupBytes() / 1e9);
            log.flush();
            runs.add(r);
        }
        return new TrainingBenchReport(settings.getFirst().model(), Cpu.modelName(), settings.getFirst().threads(),
                Cpu.physicalCores(), load0, Cpu.loadAverage(), runs);
    }

    /** {@code bench-train --one-run}: one setting in this JVM, its figures as JSON. */
    public static String runOneAsJson(Setting s) {
        return ReportJson.write(runHere(s), "a training bench run");
    }

    /** One setting in this JVM. Build nothing else around it: the peak is the process's. */
    static TrainingBenchRun runHere(Setting s) {
        NativeThreads.setComputeThreads(s.threads());
        ModelFolder folder = ModelFolder.resolve(s.model());
        int factor = vaeScaleFactor(folder);
        if (s.resolution() % factor != 0) {
            throw new JDiffusionException("--resolution " + s.resolution() + ": use a multiple of " + factor
                    + " (the VAE's downscaling factor of this model)");
        }
        DDPMScheduler ddpm = (DDPMScheduler) Schedulers.create("DDPMScheduler",
                SchedulerConfigFile.read(folder.component("scheduler").resolve("scheduler_config.json")), Map.of());

        // 1. setup: trained weights in float32 (AdamW's too; bf16 is autocast); a LoRA's frozen base in
        //    bf16 under bf16 autocast, as train_dreambooth_lora.py casts it to weight_dtype
        long t0 = System.nanoTime();
        ScalarType dtype = s.lora() && s.bf16() ? ScalarType.BFloat16 : ScalarType.Float;
        UNet2DConditionModel unet = UNet2DConditionModel.load(folder.component("unet"), dtype, Tensors.CPU);
        LoRATraining lora = null;
        try {
            Map<String, Tensor> trainable;
            if (s.lora()) {
                ModuleTensors.parameters(unet, "").values().forEach(p -> p.requires_grad_(false)); // the base model is frozen
                lora = attachLoRA(unet, s.rank());
                trainable = lora.parameters();
            } else {
                trainable = new java.util.LinkedHashMap<>();
                for (var e : ModuleTensors.parameters(unet, "").entrySet()) {
                    if (s.trainOnly() == null || e.getKey().startsWith(s.trainOnly())) trainable.put("unet." + e.getKey(), e.getValue());
                    else e.getValue().requires_grad_(false);
                }
                if (trainable.isEmpty()) {
                    throw new JDiffusionException("--train-only " + s.trainOnly() + ": no UNet parameter name starts with it"
                            + " (try conv_in, down_blocks.0, mid_block)");
                }
            }
            long count = trainable.values().stream().mapToLong(Tensor::numel).sum();
            TrainingConfig config = new TrainingConfig(s.steps() + 1, 1e-5, 0, TrainingConfig.LrSchedule.CONSTANT, 1, 1.0,
                    1e-2, 0, s.bf16(), 0, 0);
            try (Trainer trainer = new Trainer(config, trainable, null)) {
                double setup = (System.nanoTime() - t0) / 1e9;
                NativeMemory.trim(); // the load's freed buffers are not the steps' memory
                long resident = ProcessMemory.residentBytes();
                ProcessMemory.resetPeak();

                // 2. the steps, each timed from the end of the one before
                List<Double> times = new ArrayList<>();
                List<Double> losses = new ArrayList<>();
                long[] mark = {System.nanoTime()};
                Trainer.Listener listener = (step, total, loss, lr) -> {
                    long now = System.nanoTime();
                    times.add((now - mark[0]) / 1e9);
                    losses.add(loss);
                    mark[0] = now;
                };
                Batch batch = new Batch(unet, ddpm, s.batch(), s.resolution() / factor);
                if (s.gradientCheckpointing()) {
                    trainer.run((Trainer.BackwardObjective) (step, micro, rng, gradScale) -> batch.checkpointed(rng, gradScale),
                            listener);
                } else {
                    trainer.run((Trainer.Objective) (step, micro, rng) -> batch.loss(rng), listener);
                }
                long peak = ProcessMemory.peakResidentBytes();
                boolean finite = losses.stream().allMatch(Double::isFinite);
                return new TrainingBenchRun(s.mode(), s.rank(), s.resolution(), s.batch(),
                        s.bf16() ? "bf16" : "no", s.gradientCheckpointing(), torch.get_num_threads(), count, setup, times,
                        median(times.subList(1, times.size())), resident, peak, losses, finite);
            }
        } finally {
            if (lora != null) lora.close();
            unet.close();
        }
    }

    private static LoRATraining attachLoRA(UNet2DConditionModel unet, int rank) {
        try {
            return LoRATraining.attach(unet, null, rank, rank, 0);
        } catch (UnsupportedOperationException e) {
            throw new JDiffusionException("--lora: LoRA training (jdiffusion.lora.LoRATraining) is not in this build yet; "
                    + "benchmark a full fine-tune (leave out --lora)", e);
        }
    }

    /**
     * One step's data, drawn from the step's generator in a fixed order: latents [B, C, h, w],
     * context [B, 77, cross_attention_dim], noise, timesteps. Extra input channels (inpainting's
     * mask and masked image) are random too.
     */
    private record Batch(UNet2DConditionModel unet, DDPMScheduler ddpm, int size, int side) {
        Tensor loss(TorchGenerator rng) {
            Tensor[] in = inputs(rng);
            return lossOf(in[3]).apply(unet.forward(in[0], in[1], in[2]));
        }

        double checkpointed(TorchGenerator rng, double gradScale) {
            Tensor[] in = inputs(rng);
            return GradientCheckpointing.forwardBackward(unet, in[0], in[1], in[2], lossOf(in[3]), gradScale);
        }

        /** noisy input, timesteps, context, target (the noise). */
        private Tensor[] inputs(TorchGenerator rng) {
            var c = unet.config();
            Tensor latents = rng.randn(size, c.outChannels(), side, side);
            Tensor context = rng.randn(size, TOKENS, c.crossAttentionDim().getFirst());
            Tensor noise = rng.randn(size, c.outChannels(), side, side);
            Tensor timesteps = rng.randint(0, ddpm.config().numTrainTimesteps(), size);
            Tensor noisy = ddpm.addNoise(latents, noise, timesteps);
            if (c.inChannels() > c.outChannels()) {
                noisy = jdiffusion.nn.Functional.cat(noisy, rng.randn(size, c.inChannels() - c.outChannels(), side, side), 1);
            }
            return new Tensor[] {noisy, timesteps, context, noise};
        }

        private static Function<Tensor, Tensor> lossOf(Tensor target) {
            return out -> torch.mse_loss(out.to(ScalarType.Float), target); // in float32 whatever the autocast dtype
        }
    }

    /** The model's own resolution: the UNet's sample_size times the VAE's factor (512 for SD 1.5, 64 for tiny-shapes). */
    public static int defaultResolution(String model) {
        return ModelFolder.resolve(model).defaultImageSize();
    }

    /** 2^(len(vae block_out_channels) - 1), as diffusers' pipelines compute vae_scale_factor. */
    private static int vaeScaleFactor(ModelFolder folder) {
        JsonNode vae = ModelFolder.readJson(folder.component("vae").resolve("config.json"));
        int levels = vae.path("block_out_channels").size();
        if (levels < 1) throw new JDiffusionException(folder.root() + "/vae/config.json has no block_out_channels");
        return 1 << (levels - 1);
    }

    /** The setting in a child JVM with this one's flags, class path and environment. */
    private static TrainingBenchRun runIsolated(Setting s) {
        List<String> arguments = new ArrayList<>(List.of("bench-train", "--one-run",
                "--model", s.model(), "--resolution", Integer.toString(s.resolution()), "--batch", Integer.toString(s.batch()),
                "--mixed-precision", s.bf16() ? "bf16" : "no", "--gradient-checkpointing", s.gradientCheckpointing() ? "on" : "off",
                "--steps", Integer.toString(s.steps()), "--threads", Integer.toString(s.threads())));
        if (s.lora()) arguments.addAll(List.of("--lora", "--rank", Integer.toString(s.rank())));
        if (s.trainOnly() != null) arguments.addAll(List.of("--train-only", s.trainOnly()));
        return IsolatedRun.run(arguments, s.describe(), TrainingBenchRun.class);
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
}
