package jdiffusion.training.pixel;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import jdiffusion.JDiffusionException;
import jdiffusion.models.unet2d.ClassConditionedUnet;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.models.unet2d.UNet2DConfig;
import jdiffusion.models.unet2d.UNet2DModel;
import jdiffusion.nn.RandomInit;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.training.MinSnrWeighting;
import jdiffusion.training.Trainer;
import jdiffusion.training.TrainingConfig;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.Tensor;

/**
 * The diffusion course's unit 2 "Class-conditioned Diffusion Model Example" trained from scratch on
 * Fashion-MNIST: the notebook's {@link ClassConditionedUnet} ({@code nn.Embedding(10, 4)}, UNet2DModel
 * 28x28, in_channels 1 + 4, block_out_channels (32, 64, 64), two layers per block, attention in the
 * lower blocks), DDPM squaredcos_cap_v2, MSE on the noise, AdamW, batch 128, images mapped to [-1, 1].
 * Each epoch visits the (sub)set in a fresh order drawn from (seed, epoch), the last batch smaller as
 * the notebook's DataLoader leaves it; all randomness derives from (seed, step), so a resumed run
 * (from {@code OUT/training_state.safetensors}) continues exactly.
 *
 * <pre>{@code
 * ClassConditionedTraining.run(ClassConditionedTraining.Config.notebook(FashionMnist.DEBIAN_DIR, 10, Path.of("fashion")),
 *         ClassConditionedTraining.Listener.NONE);
 * }</pre>
 */
public final class ClassConditionedTraining {
    public static final String STATE_FILE = "training_state.safetensors";
    /**
     * DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2") as save_pretrained writes it,
     * except {@code clip_sample} false (the notebook's scheduler clips each predicted x0 to [-1, 1]): only
     * sampling reads it, and clipping cost the one-hour model's DDIM-20 samples 3.2 points of class accuracy
     * on a selection set (80.7 vs 83.9 %, docs/pixel-diffusion.md); diffusers users get the same with
     * {@code DDIMScheduler.from_config(config, clip_sample=False)}.
     */
    static final String SCHEDULER_JSON = """
            {
              "_class_name": "DDPMScheduler",
              "_diffusers_version": "0.31.0",
              "beta_end": 0.02,
              "beta_schedule": "squaredcos_cap_v2",
              "beta_start": 0.0001,
              "clip_sample": false,
              "clip_sample_range": 1.0,
              "dynamic_thresholding_ratio": 0.995,
              "num_train_timesteps": 1000,
              "prediction_type": "epsilon",
              "rescale_betas_zero_snr": false,
              "sample_max_value": 1.0,
              "steps_offset": 0,
              "thresholding": false,
              "timestep_spacing": "leading",
              "trained_betas": null,
              "variance_type": "fixed_small"
            }
            """;

    /**
     * @param subset          train on the first this many images (0 = all 60,000)
     * @param emaDecay        0 = off; else the output holds the EMA weights (diffusers' EMAModel with warm-up)
     * @param checkpointEvery steps between checkpoints (which also rewrite the model folder); 0 = at the end
     * @param bf16            forwards under bf16 autocast (float32 weights and optimiser): about twice as fast on CPUs
     *                        with AMX or AVX512-BF16
     * @param lrSchedule      constant (the notebook's), or a linear warm-up then constant or cosine to 0
     * @param warmupSteps     steps of the linear warm-up
     * @param snrGamma        Min-SNR loss weighting, 0 = the notebook's plain MSE
     * @param microBatches    each step's batch split in this many equal parts (gradient accumulation), which
     *                        {@link #run(Config, int, Listener) workers} compute at once; part of the recipe
     *                        (it decides the random draws), unlike the number of workers
     * @param classDropout    the share of samples trained as {@link PixelDenoiser#NO_CLASS} (all-zero class
     *                        embedding), so that sampling can use classifier-free guidance; 0 = the notebook's
     */
    public record Config(Path data, int epochs, int subset, int batchSize, double learningRate, Path out, long seed,
                         double emaDecay, int checkpointEvery, boolean resume, List<Integer> blockOutChannels,
                         int layersPerBlock, int classEmbSize, boolean bf16, TrainingConfig.LrSchedule lrSchedule,
                         int warmupSteps, double snrGamma, int microBatches, double classDropout) {
        public Config {
            if (epochs < 1 || epochs > 10_000) throw new JDiffusionException("--epochs must be 1 to 10000, got " + epochs);
            if (subset < 0) throw new JDiffusionException("--subset must be >= 0 (0 = all), got " + subset);
            if (batchSize < 1 || batchSize > 60_000) throw new JDiffusionException("--batch-size must be 1 to 60000, got " + batchSize);
            if (!(learningRate > 0 && learningRate < 1)) throw new JDiffusionException("--lr must be in (0, 1), got " + learningRate);
            if (!(emaDecay >= 0 && emaDecay < 1)) throw new JDiffusionException("--ema-decay must be in [0, 1), got " + emaDecay);
            if (checkpointEvery < 0) throw new JDiffusionException("--checkpoint-every must be >= 0, got " + checkpointEvery);
            if (warmupSteps < 0) throw new JDiffusionException("--lr-warmup-steps must be >= 0, got " + warmupSteps);
            if (lrSchedule == null) lrSchedule = TrainingConfig.LrSchedule.CONSTANT;
            MinSnrWeighting.checkGamma(snrGamma);
            if (!(classDropout >= 0 && classDropout < 1)) {
                throw new JDiffusionException("--class-dropout must be in [0, 1), got " + classDropout);
            }
            if (microBatches < 1 || microBatches > batchSize) {
                throw new JDiffusionException("--micro-batches must be 1 to the batch size " + batchSize + ", got " + microBatches);
            }
            blockOutChannels = List.copyOf(blockOutChannels);
        }

        /** The notebook's model and optimiser settings. */
        public static Config notebook(Path data, int epochs, Path out) {
            return new Config(data, epochs, 0, 128, 1e-3, out, 0, 0, 200, false, List.of(32, 64, 64), 2, 4, false,
                    TrainingConfig.LrSchedule.CONSTANT, 0, 0, 1, 0);
        }
    }

    /** What a run reports. */
    public interface Listener {
        void onStep(int step, int totalSteps, int epoch, double loss);

        default void onCheckpoint(int stepsDone) {}

        Listener NONE = (step, total, epoch, loss) -> {};
    }

    private ClassConditionedTraining() {}

    /** The notebook's net, randomly initialised (seeded). */
    public static ClassConditionedUnet newModel(Config config, int imageChannels, int height, int width) {
        int n = config.blockOutChannels().size();
        List<String> down = new java.util.ArrayList<>(List.of(UNet2DConfig.DOWN));
        List<String> up = new java.util.ArrayList<>();
        for (int i = 1; i < n; i++) {
            down.add(UNet2DConfig.ATTN_DOWN);
            up.add(UNet2DConfig.ATTN_UP);
        }
        up.add(UNet2DConfig.UP);
        // diffusers' defaults for the rest: 32 groups (capped at the narrowest block), head size 8
        int groups = Math.min(32, config.blockOutChannels().getFirst());
        UNet2DConfig unet = new UNet2DConfig(List.of(height, width), imageChannels + config.classEmbSize(), imageChannels,
                false, "positional", 0, true, down, up, config.blockOutChannels(), config.layersPerBlock(), 1.0, 1, 0.0,
                "silu", 8, groups, null, 1e-5, true, null, null, null);
        ClassConditionedUnet net = new ClassConditionedUnet(FashionMnist.NUM_CLASSES, config.classEmbSize(), new UNet2DModel(unet),
                config.classDropout() > 0);
        RandomInit.initialize(net, config.seed());
        // nn.Embedding starts at N(0, 1) in PyTorch and so in the notebook; RandomInit's linear-layer bound
        // (+-1/sqrt(4)) gives the class a 3.5x weaker signal at conv_in, and a 2-epoch run so started
        // learned to ignore the class (23.9 % per-class accuracy).
        try (NoGradGuard noGrad = new NoGradGuard(); PointerScope scope = new PointerScope()) {
            Tensor table = net.classEmbeddingTable();
            table.copy_(new TorchGenerator(config.seed() + 1).randn(table.sizes().vec().get()));
        }
        return net;
    }

    /** Trains (or resumes) and writes the DDPMPipeline folder to {@code config.out()}; returns the last loss. */
    public static double run(Config config, Listener listener) {
        return run(config, 1, listener);
    }

    /**
     * As {@link #run(Config, Listener)}, computing up to {@code workers} of a step's micro-batches at once
     * (give each its share of the cores first: {@code NativeThreads.setComputeThreads}); the result does not
     * depend on {@code workers}.
     */
    public static double run(Config config, int workers, Listener listener) {
        // 1. data: [-1, 1] images and their labels
        FashionMnist data = FashionMnist.load(config.data(), true);
        int n = config.subset() == 0 ? data.count() : Math.min(config.subset(), data.count());
        float[] pixels = new float[n * data.height() * data.width()];
        long[] labels = new long[n];
        int plane = data.height() * data.width();
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < plane; p++) pixels[i * plane + p] = (data.images()[i * plane + p] & 0xff) / 255f * 2f - 1f;
            labels[i] = data.label(i);
        }
        Tensor images = Tensors.fromFloats(pixels, n, 1, data.height(), data.width());
        Tensor labelTensor = Tensors.fromLongs(labels, n);
        int stepsPerEpoch = (n + config.batchSize() - 1) / config.batchSize();
        int steps = stepsPerEpoch * config.epochs();
        int lastBatch = n - (stepsPerEpoch - 1) * config.batchSize();
        if (lastBatch < config.microBatches()) {
            throw new JDiffusionException("the epoch's last batch has " + lastBatch + " image(s), fewer than the "
                    + config.microBatches() + " micro-batches to split it in; change --subset, --batch-size or --micro-batches");
        }

        // 2. model, noise schedule, trainer
        var noiseScheduler = (DDPMScheduler) Schedulers.create("DDPMScheduler", SchedulerConfigFile.parse(SCHEDULER_JSON), Map.of());
        ClassConditionedUnet net = newModel(config, 1, data.height(), data.width());
        try {
            net.train(true);
            var objective = new PixelDiffusionObjective(net, noiseScheduler, config.snrGamma());
            TrainingConfig training = new TrainingConfig(steps, config.learningRate(), config.warmupSteps(), config.lrSchedule(),
                    config.microBatches(), 0, 0.01, config.emaDecay(), config.bf16(), config.seed(), config.checkpointEvery());
            Map<String, Tensor> parameters = ModuleTensors.parameters(net, "");
            double last;
            try (Trainer trainer = new Trainer(training, parameters, config.out().resolve(STATE_FILE))) {
                trainer.useWorkers(workers);
                if (config.resume()) trainer.resume();
                EpochOrder order = new EpochOrder(n, config.seed());
                trainer.run((step, micro, rng) -> {
                    // the step's batch, then this micro-batch's share of it: sizes differ by at most one, none
                    // empty (the last batch is smaller, and at least microBatches long)
                    int from = (step % stepsPerEpoch) * config.batchSize();
                    int size = Math.min(config.batchSize(), n - from), parts = config.microBatches();
                    int lo = from + size * micro / parts, hi = from + size * (micro + 1) / parts;
                    int[] visit = order.of(step / stepsPerEpoch);
                    long[] idx = new long[hi - lo];
                    for (int i = lo; i < hi; i++) idx[i - lo] = visit[i];
                    Tensor index = Tensors.fromLongs(idx, idx.length);
                    Tensor batchLabels = labelTensor.index_select(0, index);
                    if (config.classDropout() > 0) {
                        // drawn before the objective's noise and timesteps, only when on (the notebook's draws stay)
                        Tensor drop = rng.rand(idx.length).lt(new Scalar(config.classDropout()));
                        batchLabels = torch.where(drop, torch.full_like(batchLabels, new Scalar(PixelDenoiser.NO_CLASS)), batchLabels);
                    }
                    return objective.loss(images.index_select(0, index), batchLabels, rng);
                }, new Trainer.Listener() {
                    @Override
                    public void onStep(int step, int totalSteps, double loss, double learningRate) {
                        listener.onStep(step, totalSteps, step / stepsPerEpoch, loss);
                    }

                    @Override
                    public void onCheckpoint(int stepsDone, Path file) {
                        writeModel(config, net, parameters, trainer);
                        listener.onCheckpoint(stepsDone);
                    }
                });
                last = trainer.lastLoss();
                writeModel(config, net, parameters, trainer);
            }
            return last;
        } finally {
            net.close();
        }
    }

    /** The DDPMPipeline folder of the current weights (the EMA weights when EMA is on); training continues unchanged. */
    private static void writeModel(Config config, ClassConditionedUnet net, Map<String, Tensor> parameters, Trainer trainer) {
        Map<String, Tensor> ema = trainer.emaWeights();
        Map<String, Tensor> saved = new java.util.LinkedHashMap<>();
        try (NoGradGuard noGrad = new NoGradGuard()) {
            if (!ema.isEmpty()) {
                parameters.forEach((k, p) -> {
                    saved.put(k, p.detach().clone());
                    p.detach().copy_(ema.get(k));
                });
            }
            net.eval();
            PixelPipelineWriter.write(config.out(), net, SCHEDULER_JSON);
            net.train(true);
            saved.forEach((k, t) -> parameters.get(k).detach().copy_(t));
        }
    }

    /** The current epoch's visiting order, shared by the workers of a step. */
    private static final class EpochOrder {
        private final int n;
        private final long seed;
        private int epoch = -1;
        private int[] order;

        EpochOrder(int n, long seed) {
            this.n = n;
            this.seed = seed;
        }

        synchronized int[] of(int wanted) {
            if (wanted != epoch) {
                order = permutation(n, seed, wanted);
                epoch = wanted;
            }
            return order;
        }
    }

    /** Fisher-Yates over 0..n-1 from (seed, epoch): the epoch's visiting order. */
    static int[] permutation(int n, long seed, int epoch) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + epoch);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
