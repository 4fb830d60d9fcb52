package jdiffusion.models.unet2d;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.ModelLoading;
import jdiffusion.models.unet.DownBlock;
import jdiffusion.models.unet.DownBlock2D;
import jdiffusion.models.unet.UpBlock2D;
import jdiffusion.models.unet.UpChannels;
import jdiffusion.models.vae.UNetMidBlock2D;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.RandomInit;
import jdiffusion.nn.TimestepEmbedding;
import jdiffusion.nn.Timesteps;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.KeyMap;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/unets/unet_2d.py {@code UNet2DModel}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d.py): the
 * pixel-space UNet of DDPM ({@code google/ddpm-cifar10-32}, {@code google/ddpm-celebahq-256}) and of the
 * diffusion course. No text: a timestep and, optionally, a class label condition the prediction.
 *
 * <p>Registered names are diffusers' attribute names, so {@code named_parameters()} equals the keys of
 * {@code diffusion_pytorch_model.safetensors}. Build or {@link #load} outside any PointerScope.
 *
 * <pre>{@code
 * UNet2DModel unet = UNet2DModel.load(Path.of("ddpm-cifar10-32/unet"), ScalarType.Float, Tensors.CPU);
 * try (var scope = new PointerScope(); var noGrad = new NoGradGuard()) {
 *     Tensor eps = unet.forward(noisy, Tensors.fromLongs(new long[] {999}), null); // [B, 3, 32, 32]
 * }
 * }</pre>
 */
public final class UNet2DModel extends JavaModule implements PixelDenoiser {
    /** A down block of either type, with one call shape. */
    private interface Down {
        DownBlock.Output forward(Tensor hidden, Tensor temb);
    }

    /** An up block of either type, with one call shape. */
    private interface Up {
        int numResnets();

        Tensor forward(Tensor hidden, List<Tensor> skips, Tensor temb);
    }

    private final UNet2DConfig config;
    private final Conv2dImpl convIn;               // [C0, in, 3, 3]
    private final Timesteps timeProj;              // positional: no weights; null when learned
    private final EmbeddingImpl learnedTimeProj;   // learned: [num_train_timesteps, C0]
    private final TimestepEmbedding timeEmbedding; // C0 -> 4*C0
    private final EmbeddingImpl classEmbedding;    // [num_class_embeds, 4*C0]; class_embed_type null
    private final TimestepEmbedding classTimestepEmbedding; // class_embed_type "timestep"
    private final List<Down> downBlocks = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final List<Up> upBlocks = new ArrayList<>();
    private final GroupNormImpl convNormOut;       // [C0]
    private final Conv2dImpl convOut;              // [out, C0, 3, 3]

    /** A model of {@code config} with libtorch's random initialisation (float32, CPU). */
    public UNet2DModel(UNet2DConfig config) {
        ModelLoading.requireNoPointerScope("UNet2DModel");
        this.config = config;
        List<Integer> channels = config.blockOutChannels();
        int c0 = channels.getFirst();
        int temb = config.timeEmbedDim();
        convIn = register_module("conv_in", Layers.conv2d(config.inChannels(), c0, 3, 1, 1));

        // 1. time (and class) embeddings
        if ("learned".equals(config.timeEmbeddingType())) {
            timeProj = null;
            learnedTimeProj = register_module("time_proj", new EmbeddingImpl(config.numTrainTimesteps(), c0));
        } else {
            timeProj = register_module("time_proj", new Timesteps(c0, config.flipSinToCos(), config.freqShift()));
            learnedTimeProj = null;
        }
        timeEmbedding = register_module("time_embedding", new TimestepEmbedding(c0, temb));
        if ("timestep".equals(config.classEmbedType())) {
            classEmbedding = null;
            classTimestepEmbedding = register_module("class_embedding", new TimestepEmbedding(c0, temb));
        } else {
            classEmbedding = config.classEmbedType() == null && config.numClassEmbeds() != null
                    ? register_module("class_embedding", new EmbeddingImpl(config.numClassEmbeds(), temb)) : null;
            classTimestepEmbedding = null; // "identity": the labels are the embedding
        }

        // 2. down, mid, up
        ModuleList downList = register_module("down_blocks", new ModuleList());
        int in = c0;
        for (int i = 0; i < config.numBlocks(); i++) {
            int out = channels.get(i);
            boolean last = i == config.numBlocks() - 1;
            if (UNet2DConfig.ATTN_DOWN.equals(config.downBlockTypes().get(i))) {
                downBlocks.add(downList.add(new AttnDownBlock2D(config, i, in))::forward);
            } else {
                DownBlock2D block = downList.add(new DownBlock2D(in, out, config.layersPerBlock(), temb,
                        config.normNumGroups(), config.normEps(), !last, config.downsamplePadding()));
                downBlocks.add((h, t) -> block.forward(h, t, null));
            }
            in = out;
        }
        int cLast = channels.getLast();
        midBlock = register_module("mid_block", new UNetMidBlock2D(cLast, temb, config.normNumGroups(),
                config.midAttentionGroups(), config.normEps(), config.headDim(cLast), config.midBlockScaleFactor(),
                config.addAttention()));
        ModuleList upList = register_module("up_blocks", new ModuleList());
        List<Integer> layers = java.util.Collections.nCopies(config.numBlocks(), config.layersPerBlock());
        for (int i = 0; i < config.numBlocks(); i++) {
            UpChannels ch = UpChannels.of(channels, layers, i);
            if (UNet2DConfig.ATTN_UP.equals(config.upBlockTypes().get(i))) {
                AttnUpBlock2D block = upList.add(new AttnUpBlock2D(config, ch));
                upBlocks.add(new Up() {
                    public int numResnets() { return block.numResnets(); }
                    public Tensor forward(Tensor h, List<Tensor> s, Tensor t) { return block.forward(h, s, t); }
                });
            } else {
                UpBlock2D block = upList.add(new UpBlock2D(ch, temb, config.normNumGroups(), config.normEps()));
                upBlocks.add(new Up() {
                    public int numResnets() { return block.numResnets(); }
                    public Tensor forward(Tensor h, List<Tensor> s, Tensor t) { return block.forward(h, s, t, null, null); }
                });
            }
        }
        convNormOut = register_module("conv_norm_out", Layers.groupNorm(config.normNumGroups(), c0, config.normEps()));
        // conv_act is SiLU: no weights
        convOut = register_module("conv_out", Layers.conv2d(c0, config.outChannels(), 3, 1, 1));
    }

    /**
     * Reads {@code folder/config.json} and the weights next to it, in {@code dtype} on {@code device},
     * ready for inference (eval mode). Throws a {@link JDiffusionException} listing every missing,
     * unexpected or mis-shaped tensor when the weights do not fit the config.
     */
    public static UNet2DModel load(Path folder, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "UNet2DModel");
        List<Path> files = ModelFolder.weightFiles(folder, null);
        UNet2DModel model = new UNet2DModel(UNet2DConfig.fromJson(folder.resolve("config.json")));
        ModelLoading.loadWeights(model, files, KeyMap.identity(), dtype, device, "UNet2DModel");
        return model;
    }

    /** A model of {@code config} with seeded random weights ({@link RandomInit}), float32, for training from scratch. */
    public static UNet2DModel createRandom(UNet2DConfig config, long seed) {
        UNet2DModel model = new UNet2DModel(config);
        RandomInit.initialize(model, seed);
        return model;
    }

    public UNet2DConfig config() {
        return config;
    }

    @Override
    public int imageChannels() {
        return config.inChannels();
    }

    @Override
    public List<Integer> sampleSize() {
        return config.sampleSize();
    }

    /** num_class_embeds, or 0 (also for class_embed_type "timestep"/"identity", whose labels are not indices). */
    @Override
    public int numClasses() {
        return config.numClassEmbeds() == null || config.classEmbedType() != null ? 0 : config.numClassEmbeds();
    }

    @Override
    public org.bytedeco.pytorch.Module module() {
        return this;
    }

    /**
     * {@code unet(sample, timestep, class_labels).sample}: the noise prediction.
     *
     * @param sample      [B, in_channels, H, W]; H and W divisible by 2^(blocks - 1)
     * @param timestep    0-dim (shared by the batch) or [B], int64 or float: used as float32
     * @param classLabels [B] int64 class indices (or [B, 4*C0] embeddings for class_embed_type "identity"),
     *                    or null for an unconditional model
     * @return [B, out_channels, H, W] in the model's dtype
     */
    @Override
    public Tensor forward(Tensor sample, Tensor timestep, Tensor classLabels) {
        checkInputs(sample, timestep, classLabels);
        Tensor weight = convIn.weight();
        long batch = sample.size(0);
        // 0. center input if necessary
        sample = sample.to(weight.device(), weight.scalar_type());
        if (config.centerInputSample()) sample = Functional.mul(sample, 2.0).sub(new Scalar(1.0));

        // 1. time (+ class): 0-dim -> [B]; the sinusoid in float32, then the model's dtype
        Tensor t = timestep.reshape(-1).to(weight.device(), timestep.scalar_type()).expand(batch);
        Tensor emb = timeEmbedding.forward(project(t).to(weight.scalar_type()));
        if (classEmbedding != null) {
            emb = emb.add(classEmbedding.forward(classLabels.to(weight.device(), ScalarType.Long)).to(weight.scalar_type()));
        } else if (classTimestepEmbedding != null) {
            emb = emb.add(classTimestepEmbedding.forward(project(classLabels.to(weight.device(), classLabels.scalar_type())).to(weight.scalar_type())));
        } else if ("identity".equals(config.classEmbedType())) {
            emb = emb.add(classLabels.to(weight.device(), weight.scalar_type()));
        }

        // 2. pre-process
        sample = convIn.forward(sample);

        // 3. down: every skip connection, conv_in's output first
        List<Tensor> residuals = new ArrayList<>();
        residuals.add(sample);
        for (Down block : downBlocks) {
            DownBlock.Output out = block.forward(sample, emb);
            sample = out.hidden();
            residuals.addAll(out.residuals());
        }

        // 4. mid
        sample = midBlock.forward(sample, emb);

        // 5. up: each block takes the last numResnets() skip connections off the list
        for (Up block : upBlocks) {
            int keep = residuals.size() - block.numResnets();
            List<Tensor> skips = residuals.subList(keep, residuals.size());
            sample = block.forward(sample, new ArrayList<>(skips), emb);
            residuals = new ArrayList<>(residuals.subList(0, keep));
        }

        // 6. post-process (time_embedding_type positional/learned: no division by the timestep)
        sample = Functional.silu(convNormOut.forward(sample));
        return convOut.forward(sample);
    }

    /** time_proj of [B] timesteps: the sinusoid, or the learned table's rows. */
    private Tensor project(Tensor t) {
        return timeProj != null ? timeProj.forward(t) : learnedTimeProj.forward(t.to(ScalarType.Long));
    }

    private void checkInputs(Tensor sample, Tensor timestep, Tensor classLabels) {
        if (sample.dim() != 4 || sample.size(1) != config.inChannels()) {
            throw new JDiffusionException("UNet2DModel sample must be [B, " + config.inChannels() + ", H, W], got "
                    + Tensors.shapeString(sample));
        }
        long factor = 1L << (config.numBlocks() - 1);
        if (sample.size(2) % factor != 0 || sample.size(3) % factor != 0) {
            throw new JDiffusionException("UNet2DModel: height and width must be multiples of " + factor
                    + " (it halves them " + (config.numBlocks() - 1) + " times), got " + sample.size(2) + "x" + sample.size(3));
        }
        if (timestep.numel() != 1 && (timestep.dim() != 1 || timestep.size(0) != sample.size(0))) {
            throw new JDiffusionException("UNet2DModel timestep must be one value or one per sample ["
                    + sample.size(0) + "], got " + Tensors.shapeString(timestep));
        }
        if (!config.classConditioned()) {
            if (classLabels != null) {
                throw new JDiffusionException("class labels were given, but this UNet2DModel has no class embedding "
                        + "(num_class_embeds / class_embed_type are null)");
            }
            return;
        }
        if (classLabels == null) {
            throw new JDiffusionException("this UNet2DModel is class-conditioned: give a class label");
        }
        if (classEmbedding != null) {
            if (classLabels.dim() != 1 || classLabels.size(0) != sample.size(0)) {
                throw new JDiffusionException("class labels must be one per sample [" + sample.size(0) + "], got "
                        + Tensors.shapeString(classLabels));
            }
            ClassLabels.check(Tensors.toLongs(classLabels.to(ScalarType.Long)), config.numClassEmbeds());
        }
    }
}
