package jdiffusion.tools.shapes;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.image.Images;
import jdiffusion.io.SafetensorsFile;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.clip.CLIPTextConfig;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.clip.CLIPTokenizer;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.models.vae.AutoencoderKL;
import jdiffusion.models.vae.AutoencoderKLConfig;
import jdiffusion.models.vae.DiagonalGaussianDistribution;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.LatentDiffusionObjective;
import jdiffusion.training.PipelineWriter;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The recipe of the shipped tiny text-to-image model ({@code models/tiny-shapes}), trained from
 * scratch on the {@link ShapesDataset}:
 * <ol>
 *   <li>Stage A: an AutoencoderKL, 64x64x3 to 16x16x4 (4x down), on reconstruction (MSE + L1) and a
 *       small KL term. Its latents of the training set are then cached, with the
 *       scaling_factor chosen as 1 / their standard deviation (as SD's 0.18215 was).</li>
 *   <li>Stage B: a UNet2DConditionModel with cross-attention and a small CLIPTextModel over the
 *       project's own vocabulary ({@link TinyVocabulary}), trained jointly on the cached latents
 *       with the v-prediction loss (Min-SNR weighted) and 10 % caption dropout (for classifier-free guidance).</li>
 *   <li>Export: a diffusers folder, weights in float16.</li>
 * </ol>
 * Every stage checkpoints into {@code work} and resumes; the whole run is deterministic for a seed.
 */
public final class TinyShapesRecipe {
    public static final int IMAGE_SIZE = 64;
    public static final int LATENT_SIZE = 16;
    public static final double CAPTION_DROPOUT = 0.1;
    /** Samples per training scene in the latent cache (each with its own jitter and caption). */
    static final int CACHE_EPOCHS = 4;
    /**
     * UNet + text encoder steps of the shipped run. Shape is what the UNet learns last: at 4000 steps
     * held-out shape accuracy was 51 %, 2000 more (a second cosine cycle) took it to 72 %, and one
     * cycle of 7000 to 87 %, while colour, background and position were above 95 % from 4000 on.
     */
    static final int UNET_STEPS = 7000;
    /**
     * Min-SNR weighting of the UNet loss. The first shipped run (1500 unweighted steps) had learned
     * colours but barely positions and shapes; Min-SNR is the cheapest known speed-up of diffusion
     * training (the paper reports ~3x), and a CPU run is short on steps.
     */
    static final double SNR_GAMMA = 5.0;
    /**
     * Each stage's batch is split in two micro-batches (gradient accumulation), which two cores
     * compute at once ({@link Trainer#useWorkers}): at these widths one batch's kernels keep a
     * second OpenMP thread waiting more than working. The split is part of the recipe (it decides
     * the random draws); how many workers run it is not.
     */
    public static final int MICRO_BATCHES = 2;

    /**
     * What to run; {@code vae} and {@code unet} are the two stages' optimisation settings.
     * {@code vaeCycles} are the VAE's cosine cycles (warm restarts), each ending at that many steps
     * in all; from step {@code vaeEdgeFrom} on the loss adds {@link #EDGE_WEIGHT}-weighted L1 on
     * colour edges. Why: scored reconstructions of held-out scenes after [1000, 2500] plain steps
     * had colour, background and position at 100 % but shape at 69 %, every miss a small shape
     * whose corners had melted into a circle; corners are a few pixels of a 4096-pixel mean.
     * {@code vaeBatch} and {@code unetBatch} are images per optimiser step, split evenly over the
     * stage's gradient-accumulation micro-batches.
     */
    public record Options(Path out, Path work, TrainingConfig vae, List<Integer> vaeCycles, int vaeEdgeFrom, int vaeBatch,
                          TrainingConfig unet, int unetBatch, PredictionType prediction, long seed,
                          double snrGamma) {
        public Options {
            vaeCycles = List.copyOf(vaeCycles);
            requireSplit("VAE", vaeBatch, vae.gradientAccumulation());
            requireSplit("UNet", unetBatch, unet.gradientAccumulation());
            for (int i = 1; i < vaeCycles.size(); i++) {
                if (vaeCycles.get(i) <= vaeCycles.get(i - 1)) {
                    throw new JDiffusionException("VAE cycles must end at increasing step counts, got " + vaeCycles);
                }
            }
        }

        private static void requireSplit(String stage, int batch, int microBatches) {
            if (batch < microBatches || batch % microBatches != 0) {
                throw new JDiffusionException(stage + " batch " + batch + " does not split into " + microBatches
                        + " equal micro-batches; use a multiple of " + microBatches);
            }
        }

        public static Options defaults(Path out, Path work) {
            long seed = 0;
            TrainingConfig vae = new TrainingConfig(800, 5e-4, 30, TrainingConfig.LrSchedule.COSINE, MICRO_BATCHES, 1.0,
                    0.0, 0, false, seed, 200);
            TrainingConfig unet = new TrainingConfig(UNET_STEPS, 1e-3, 200, TrainingConfig.LrSchedule.COSINE,
                    MICRO_BATCHES, 1.0, 1e-2, 0.999, false, seed + 1, 250);
            return new Options(out, work, vae, List.of(1000, 2500, 4000), 2500, 8, unet, 32,
                    PredictionType.V_PREDICTION, seed, SNR_GAMMA);
        }
    }

    /** Progress reports: a per-stage listener and plain messages. */
    public interface Progress {
        Trainer.Listener stage(String name, int totalSteps);

        void message(String text);
    }

    private TinyShapesRecipe() {}

    // ---------------------------------------------------------------------------------------------
    // The architecture

    /**
     * 4x down-sampling, 4 latent channels, a mid-block attention at 16x16. GroupNorm with one group
     * (a LayerNorm over channels and pixels): these images are flat colours, and small groups
     * standardise each image's near-constant channels away (one channel per group is an instance
     * norm that removes the colour itself; 4 per group divides by a near-zero variance). With 16 or
     * 4 groups the VAE could not reproduce the background colour after 300 steps.
     */
    public static AutoencoderKLConfig vaeConfig(double scalingFactor) {
        List<Integer> widths = List.of(16, 32, 64);
        return new AutoencoderKLConfig(3, 3,
                List.of(AutoencoderKLConfig.DOWN_ENCODER, AutoencoderKLConfig.DOWN_ENCODER, AutoencoderKLConfig.DOWN_ENCODER),
                List.of(AutoencoderKLConfig.UP_DECODER, AutoencoderKLConfig.UP_DECODER, AutoencoderKLConfig.UP_DECODER),
                widths, 1, "silu", 4, 1, IMAGE_SIZE, scalingFactor, null, null, null, false, true, true, true);
    }

    /** A 128-wide, 3-layer causal text transformer over the 668-token vocabulary. */
    public static CLIPTextConfig textConfig() {
        TinyVocabulary vocab = TinyVocabulary.build();
        return new CLIPTextConfig(vocab.size(), 128, 256, 128, 3, 4, 77, CLIPTextConfig.HiddenAct.GELU, 1e-5,
                0.0, 0.02, 1.0, vocab.eosId(), vocab.bosId(), vocab.eosId());
    }

    /** Widths 32/64/128: cross-attention at 16x16 and 8x8 (16-wide heads), a plain level at 4x4; text is 128 wide. */
    public static UNet2DConditionConfig unetConfig() {
        String cd = UNet2DConditionConfig.CROSS_ATTN_DOWN;
        String cu = UNet2DConditionConfig.CROSS_ATTN_UP;
        return new UNet2DConditionConfig(LATENT_SIZE, 4, 4, false, true, 0,
                List.of(cd, cd, UNet2DConditionConfig.DOWN), UNet2DConditionConfig.MID_CROSS_ATTN,
                List.of(UNet2DConditionConfig.UP, cu, cu),
                List.of(32, 64, 128), List.of(1, 1, 1), 1, 1.0, 0.0, "silu", 8, 1e-5,
                List.of(128, 128, 128), List.of(1, 1, 1), List.of(2, 4, 8), false, false, 1.0, 3, 3, null);
    }

    /**
     * SD's training schedule (scaled_linear 0.00085 to 0.012, 1000 steps, epsilon) with DPM-Solver++
     * (2M) as the default sampler: few steps suffice at 64x64.
     */
    public static ObjectNode schedulerConfig() {
        return schedulerConfig(PredictionType.V_PREDICTION);
    }

    /** {@link #schedulerConfig()} for a model trained to predict {@code prediction}. */
    public static ObjectNode schedulerConfig(PredictionType prediction) {
        ObjectNode c = PipelineWriterAccess.json().createObjectNode();
        c.put("_class_name", "DPMSolverMultistepScheduler");
        c.put("_diffusers_version", "0.31.0");
        c.put("algorithm_type", "dpmsolver++");
        c.put("beta_end", 0.012);
        c.put("beta_schedule", "scaled_linear");
        c.put("beta_start", 0.00085);
        c.put("clip_sample", false);
        c.put("lower_order_final", true);
        c.put("num_train_timesteps", 1000);
        c.put("prediction_type", prediction.configName());
        c.put("set_alpha_to_one", false);
        c.put("solver_order", 2);
        c.put("solver_type", "midpoint");
        c.put("steps_offset", 1);
        c.put("timestep_spacing", "leading");
        c.put("trained_betas", (String) null);
        c.putNull("trained_betas");
        return c;
    }

    // ---------------------------------------------------------------------------------------------
    // The run

    /**
     * Runs (or resumes) every stage and writes the model folder {@code options.out()}, computing
     * up to {@code workers} micro-batches at once (the result is the same for any number).
     */
    public static void train(Options options, int workers, Progress progress) {
        long start = System.nanoTime();
        NativeThreads.singleThreadedBlas(); // as for inference; with two workers OpenBLAS's own pool also serialised their matmuls
        mkdirs(options.work());
        ShapesDataset data = new ShapesDataset(options.seed());
        Path tokenizerDir = options.work().resolve("tokenizer");
        TinyVocabulary.build().write(tokenizerDir);
        CLIPTokenizer tokenizer = CLIPTokenizer.load(tokenizerDir);

        // Stage A: the autoencoder
        seedInit(options.seed());
        AutoencoderKL vae = newVae(vaeConfig(1.0));
        try {
            Map<String, Tensor> vaeParams = ModuleTensors.parameters(vae, "");
            for (int cycleEnd : options.vaeCycles()) {
                TrainingConfig cycle = options.vae().withSteps(cycleEnd);
                try (Trainer trainer = new Trainer(cycle, vaeParams, options.work().resolve("vae-checkpoint.safetensors"))) {
                    trainer.useWorkers(workers);
                    int microBatch = options.vaeBatch() / cycle.gradientAccumulation();
                    if (trainer.resume()) progress.message("VAE: resumed at step " + trainer.stepsDone());
                    if (trainer.stepsDone() < cycleEnd) {
                        trainer.run((step, micro, rng) -> vaeLoss(vae, data, microBatch, rng,
                                step >= options.vaeEdgeFrom() ? EDGE_WEIGHT : 0), progress.stage("VAE", cycleEnd));
                    }
                }
            }
            progress.message("VAE reconstructions of held-out scenes, scored:\n" + reconstructionReport(vae, data, 100).table());
            // Stage A': cached latents and the scaling factor
            Path cache = options.work().resolve("latents.safetensors");
            if (!Files.isRegularFile(cache)) {
                progress.message("Caching latents of " + data.train().size() * CACHE_EPOCHS + " samples...");
                cacheLatents(vae, data, tokenizer, cache, options.seed());
            }
            // Stage B
            try (SafetensorsFile file = SafetensorsFile.open(cache)) {
                Tensor latents = file.load("latents", ScalarType.Float);
                Tensor ids = file.load("input_ids", ScalarType.Long);
                double scaling = Double.parseDouble(file.metadata().get("scaling_factor"));
                progress.message(String.format(Locale.ROOT, "Latent scaling factor: %.5f", scaling));
                AutoencoderKL shipped = withScaling(vae, scaling);
                try {
                    trainDenoiser(options, workers, latents.mul(new Scalar(scaling)), ids, tokenizer, shipped, progress);
                } finally {
                    shipped.close();
                }
            }
        } finally {
            vae.close();
        }
        progress.message(String.format(Locale.ROOT, "Done in %.1f min: %s", (System.nanoTime() - start) / 6e10,
                options.out()));
    }

    private static void trainDenoiser(Options options, int workers, Tensor latents, Tensor ids, CLIPTokenizer tokenizer,
                                      AutoencoderKL vae, Progress progress) {
        seedInit(options.seed() + 1);
        UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig());
        CLIPTextModel textEncoder = new CLIPTextModel(textConfig());
        try {
            Path schedulerFile = options.work().resolve("scheduler_config.json");
            writeJson(schedulerFile, schedulerConfig(options.prediction()));
            DDPMScheduler ddpm = (DDPMScheduler) Schedulers.create("DDPMScheduler", SchedulerConfigFile.read(schedulerFile), Map.of());
            LatentDiffusionObjective objective = new LatentDiffusionObjective(unet, textEncoder, true, ddpm,
                    options.prediction()).withSnrGamma(options.snrGamma());
            Tensor emptyIds = Tensors.fromLongs(toLongs(tokenizer.encodePadded("")), CLIPTokenizer.MAX_LENGTH);
            Map<String, Tensor> params = new LinkedHashMap<>(ModuleTensors.parameters(unet, "unet."));
            params.putAll(ModuleTensors.parameters(textEncoder, "text_encoder."));
            long n = latents.size(0);
            int batch = options.unetBatch() / options.unet().gradientAccumulation();
            try (Trainer trainer = new Trainer(options.unet(), params, options.work().resolve("unet-checkpoint.safetensors"))) {
                trainer.useWorkers(workers);
                if (trainer.resume()) progress.message("UNet: resumed at step " + trainer.stepsDone());
                trainer.run((step, micro, rng) -> {
                    Tensor index = rng.randint(0, n, batch);
                    Tensor x = latents.index_select(0, index);
                    Tensor t = LatentDiffusionObjective.dropCaptions(ids.index_select(0, index), emptyIds, CAPTION_DROPOUT, rng);
                    return objective.loss(x, t, rng);
                }, progress.stage("UNet", options.unet().steps()));
                // Export: the EMA weights when there are any
                if (!trainer.emaWeights().isEmpty()) {
                    try (NoGradGuard noGrad = new NoGradGuard(); PointerScope scope = new PointerScope()) {
                        trainer.emaWeights().forEach((k, t) -> params.get(k).copy_(t));
                    }
                }
            }
            export(options.out(), unet, vae, textEncoder, options.prediction());
        } finally {
            unet.close();
            textEncoder.close();
        }
    }

    /**
     * Writes {@code options.out()} from the checkpoints in {@code options.work()} as they are (the
     * UNet's EMA weights when present), e.g. to evaluate a run that is still going.
     */
    public static void exportCheckpoints(Options options) {
        Path work = options.work();
        double scaling;
        try (SafetensorsFile cache = SafetensorsFile.open(work.resolve("latents.safetensors"))) {
            scaling = Double.parseDouble(cache.metadata().get("scaling_factor"));
        }
        AutoencoderKL vae = new AutoencoderKL(vaeConfig(scaling));
        UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig());
        CLIPTextModel textEncoder = new CLIPTextModel(textConfig());
        try {
            loadCheckpoint(vae, work.resolve("vae-checkpoint.safetensors"), "");
            loadCheckpoint(unet, work.resolve("unet-checkpoint.safetensors"), "unet.");
            loadCheckpoint(textEncoder, work.resolve("unet-checkpoint.safetensors"), "text_encoder.");
            export(options.out(), unet, vae, textEncoder, options.prediction());
        } finally {
            vae.close();
            unet.close();
            textEncoder.close();
        }
    }

    private static void loadCheckpoint(org.bytedeco.pytorch.Module module, Path file, String prefix) {
        try (SafetensorsFile f = SafetensorsFile.open(file);
             PointerScope scope = new PointerScope();
             NoGradGuard noGrad = new NoGradGuard()) {
            boolean ema = f.contains("ema/" + prefix + ModuleTensors.parameters(module, "").keySet().iterator().next());
            for (var e : ModuleTensors.parameters(module, prefix).entrySet()) {
                e.getValue().copy_(f.load((ema ? "ema/" : "param/") + e.getKey(), ScalarType.Float));
            }
        }
    }

    /** Writes the model folder through a temporary sibling folder, replacing {@code out} when complete. */
    public static void export(Path out, UNet2DConditionModel unet, AutoencoderKL vae, CLIPTextModel textEncoder,
                              PredictionType prediction) {
        Path target = out.toAbsolutePath().normalize();
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        deleteTree(tmp);
        PipelineWriter.writeModels(tmp, unet, vae, textEncoder, ScalarType.Half);
        TinyVocabulary.build().write(tmp.resolve("tokenizer"));
        PipelineWriter.writeScheduler(tmp, schedulerConfig(prediction));
        PipelineWriter.writeModelIndex(tmp, "DPMSolverMultistepScheduler");
        deleteTree(target);
        try {
            Files.move(tmp, target);
        } catch (IOException e) {
            throw new JDiffusionException("cannot move " + tmp + " to " + target + ": " + e.getMessage(), e);
        }
    }

    /**
     * A fresh VAE whose posterior starts nearly deterministic: the log-variance half of quant_conv's
     * bias is set to -8 (std 0.02). With libtorch's default initialisation the sampled latents are
     * mostly noise (std ~1 against means ~0.3), and AdamW moves that bias by at most lr per step,
     * so the decoder would spend hundreds of steps learning only the mean colour. The KL term lets
     * the variance settle where it belongs.
     */
    public static AutoencoderKL newVae(AutoencoderKLConfig config) {
        AutoencoderKL vae = new AutoencoderKL(config);
        try (NoGradGuard noGrad = new NoGradGuard(); PointerScope scope = new PointerScope()) {
            Tensor bias = ModuleTensors.namedTensors(vae).get("quant_conv.bias");
            bias.narrow(0, config.latentChannels(), config.latentChannels()).fill_(new Scalar(-8.0));
        }
        return vae;
    }

    /** Reconstruction MSE + L1 and a small KL to N(0, 1), on a batch drawn from {@code rng}. */
    public static Tensor vaeLoss(AutoencoderKL vae, ShapesDataset data, int batch, TorchGenerator rng) {
        return vaeLoss(vae, data, batch, rng, 0);
    }

    /**
     * {@link #vaeLoss(AutoencoderKL, ShapesDataset, int, TorchGenerator)} plus {@code edgeWeight}
     * times the mean L1 error on the pixels of {@link #edgeMask} (0 = off).
     */
    public static Tensor vaeLoss(AutoencoderKL vae, ShapesDataset data, int batch, TorchGenerator rng, double edgeWeight) {
        Tensor images = renderBatch(data, batch, rng);
        DiagonalGaussianDistribution posterior = vae.encode(images);
        Tensor z = posterior.sample(rng);
        Tensor recon = vae.decode(z);
        Tensor mse = torch.mse_loss(recon, images);
        Tensor l1 = recon.sub(images).abs().mean();
        Tensor mean = posterior.mean();
        Tensor var = posterior.std().square();
        // KL(N(mu, var) || N(0, 1)) per latent element: 0.5 (mu^2 + var - 1 - logvar)
        Tensor kl = mean.square().add(var).sub(new Scalar(1.0)).sub(posterior.logvar()).mul(new Scalar(0.5)).mean();
        Tensor loss = mse.add(l1).add(kl.mul(new Scalar(1e-4)));
        if (edgeWeight > 0) {
            Tensor edges = edgeMask(images);                              // [B, 1, H, W]
            Tensor edgeL1 = recon.sub(images).abs().mul(edges).sum().div(edges.sum().mul(new Scalar(3.0)).clamp_min(new Scalar(1.0)));
            loss = loss.add(edgeL1.mul(new Scalar(edgeWeight)));
        }
        return loss;
    }

    /** Weight of the edge L1 term: edges are ~2 % of a small shape's scene, so this makes them count. */
    static final double EDGE_WEIGHT = 1.0;

    /**
     * 1 where a pixel's 3x3 neighbourhood holds two colours (a shape's outline and corners), else
     * 0: the max minus the min over the window, in any channel, above 0.1 of the [-1, 1] range.
     * [B, 3, H, W] -> [B, 1, H, W] float32.
     */
    static Tensor edgeMask(Tensor images) {
        long[] k = {3, 3}, one = {1, 1};
        Tensor max = torch.max_pool2d(images, k, one, one, one, false);
        Tensor min = torch.max_pool2d(images.neg(), k, one, one, one, false).neg();
        return torch.amax(max.sub(min), new long[] {1}, true).gt(new Scalar(0.1)).to(ScalarType.Float);
    }

    /**
     * The eval scorer on VAE reconstructions of {@code n} held-out scenes: the ceiling of what the
     * whole model can reach through this VAE.
     */
    public static EvalReport reconstructionReport(AutoencoderKL vae, ShapesDataset data, int n) {
        List<ShapeScene> scenes = data.evalScenes(n);
        List<ShapeScore> scores = new ArrayList<>();
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            for (int i = 0; i < scenes.size(); i++) {
                Sample s = ShapesDataset.sample(scenes.get(i), i);
                Tensor recon = vae.decode(vae.encode(Images.toTensor(s.image())).mode());
                scores.add(ShapeScorer.score(Images.fromTensor(recon)[0], scenes.get(i)));
            }
        }
        return new EvalReport(scores);
    }

    /** {@code batch} training samples chosen and jittered by {@code rng}: [B, 3, 64, 64] in [-1, 1]. */
    static Tensor renderBatch(ShapesDataset data, int batch, TorchGenerator rng) {
        long[] picks = Tensors.toLongs(rng.randint(0, data.train().size(), batch));
        long[] seeds = Tensors.toLongs(rng.randint(0, Long.MAX_VALUE, batch));
        List<BufferedImage> images = new ArrayList<>(batch);
        for (int i = 0; i < batch; i++) {
            images.add(ShapesDataset.sample(data.train().get((int) picks[i]), seeds[i]).image());
        }
        return Images.toTensor(images);
    }

    /**
     * Encodes {@link #CACHE_EPOCHS} samples of every training scene (posterior means) and tokenizes
     * their captions; writes latents, input_ids and the scaling factor 1 / std(latents).
     */
    static void cacheLatents(AutoencoderKL vae, ShapesDataset data, CLIPTokenizer tokenizer, Path file, long seed) {
        int total = data.train().size() * CACHE_EPOCHS;
        var samples = data.samples(seed ^ 0x5eedL);
        List<Tensor> chunks = new ArrayList<>();
        long[] ids = new long[total * CLIPTokenizer.MAX_LENGTH];
        try (PointerScope outer = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            int done = 0;
            while (done < total) {
                int b = Math.min(128, total - done);
                List<BufferedImage> images = new ArrayList<>(b);
                for (int i = 0; i < b; i++) {
                    Sample s = samples.next();
                    images.add(s.image());
                    int[] row = tokenizer.encodePadded(s.caption());
                    for (int j = 0; j < row.length; j++) ids[(done + i) * CLIPTokenizer.MAX_LENGTH + j] = row[j];
                }
                try (PointerScope chunk = new PointerScope()) {
                    Tensor mean = vae.encode(Images.toTensor(images)).mean().contiguous();
                    outer.attach(mean);
                    chunks.add(mean);
                }
                done += b;
            }
            TensorVector v = new TensorVector(chunks.toArray(new Tensor[0]));
            Tensor latents = torch.cat(v, 0).contiguous();
            double std = latents.std().item_double();
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("latents", latents);
            tensors.put("input_ids", Tensors.fromLongs(ids, total, CLIPTokenizer.MAX_LENGTH));
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt",
                    "scaling_factor", Double.toString(1.0 / std)));
        }
    }

    /** The trained VAE with its config's scaling_factor set (a new module holding the same weights). */
    private static AutoencoderKL withScaling(AutoencoderKL vae, double scaling) {
        AutoencoderKL out = new AutoencoderKL(vaeConfig(scaling));
        try (NoGradGuard noGrad = new NoGradGuard(); PointerScope scope = new PointerScope()) {
            Map<String, Tensor> src = ModuleTensors.namedTensors(vae);
            ModuleTensors.namedTensors(out).forEach((k, t) -> t.copy_(src.get(k)));
        }
        return out;
    }

    /** libtorch's initialisers draw from the global generator: seed it so that initial weights repeat. */
    private static void seedInit(long seed) {
        torch.manual_seed(seed);
    }

    private static long[] toLongs(int[] ids) {
        long[] out = new long[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = ids[i];
        return out;
    }

    private static void writeJson(Path file, ObjectNode json) {
        try {
            Files.writeString(file, PipelineWriterAccess.json().writerWithDefaultPrettyPrinter().writeValueAsString(json));
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new JDiffusionException("cannot create " + dir + ": " + e.getMessage(), e);
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(p);
        } catch (IOException e) {
            throw new JDiffusionException("cannot delete " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Prints to a stream; for tests and logs. */
    public static Progress printing(PrintStream out) {
        return new Progress() {
            @Override
            public Trainer.Listener stage(String name, int totalSteps) {
                return (step, total, loss, lr) -> {
                    if (step % 50 == 0 || step + 1 == total) {
                        out.printf(Locale.ROOT, "%s step %d/%d loss %.5f lr %.2e%n", name, step + 1, total, loss, lr);
                    }
                };
            }

            @Override
            public void message(String text) {
                out.println(text);
            }
        };
    }

    private static final class PipelineWriterAccess {
        static com.fasterxml.jackson.databind.ObjectMapper json() {
            return new com.fasterxml.jackson.databind.ObjectMapper();
        }
    }
}
