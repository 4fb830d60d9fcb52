package jdiffusion.models.unet;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.ChannelsLast;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.ModuleList;
import jdiffusion.nn.RandomInit;
import jdiffusion.nn.TimestepEmbedding;
import jdiffusion.nn.Timesteps;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.WeightSource;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.GroupNormImpl;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * diffusers models/unets/unet_2d_condition.py {@code UNet2DConditionModel}
 * (https://github.com/huggingface/diffusers/blob/v0.31.0/src/diffusers/models/unets/unet_2d_condition.py),
 * the Stable Diffusion 1.x/2.x architecture (4, 5 or 9 input channels): predicts the noise (or v)
 * of a latent at a timestep, conditioned on text embeddings.
 *
 * <p>Registered names are diffusers' attribute names, so {@code named_parameters()} equals the
 * keys of {@code diffusion_pytorch_model.safetensors}. Build or {@link #load} outside any
 * PointerScope; wrap each {@link #forward} in one (and in a NoGradGuard) for inference.
 */
public final class UNet2DConditionModel extends JavaModule {
    private final UNet2DConditionConfig config;
    private final Conv2dImpl convIn;               // [C0, in, k, k]
    private final Timesteps timeProj;              // no weights
    private final TimestepEmbedding timeEmbedding; // C0 -> 4*C0
    private final EmbeddingImpl classEmbedding;    // [num_class_embeds, 4*C0]; null without class labels
    private final List<DownBlock> downBlocks = new ArrayList<>();
    private final List<UpBlock> upBlocks = new ArrayList<>();
    private final UNetMidBlock2DCrossAttn midBlock;
    private final GroupNormImpl convNormOut;       // [C0]
    private final Conv2dImpl convOut;              // [out, C0, k, k]

    /** A randomly initialised model of {@code config} (float32, CPU); {@link #load} fills in weights. */
    public UNet2DConditionModel(UNet2DConditionConfig config) {
        this(config, ScalarType.Float);
    }

    /**
     * As {@link #UNet2DConditionModel(UNet2DConditionConfig)}, each layer (resnet, transformer,
     * resampler) converted to {@code dtype} as soon as it is built: libtorch builds layers in
     * float32, and SD 1.5 whole is 3.4 GB of it; converting whole blocks still left the largest
     * (up_blocks.1, 1 GB of float32) as the peak of a bf16 load.
     */
    public UNet2DConditionModel(UNet2DConditionConfig config, ScalarType dtype) {
        ModelLoading.requireNoPointerScope("UNet2DConditionModel");
        this.config = config;
        List<Integer> channels = config.blockOutChannels();
        int c0 = channels.getFirst();
        convIn = register_module("conv_in",
                Layers.conv2d(config.inChannels(), c0, config.convInKernel(), 1, (config.convInKernel() - 1) / 2));
        timeProj = register_module("time_proj", new Timesteps(c0, config.flipSinToCos(), config.freqShift()));
        timeEmbedding = register_module("time_embedding", new TimestepEmbedding(c0, config.timeEmbedDim()));
        classEmbedding = config.numClassEmbeds() == null ? null
                : register_module("class_embedding", new EmbeddingImpl(config.numClassEmbeds(), config.timeEmbedDim()));

        ModuleList downList = register_module("down_blocks", new ModuleList());
        ModuleList upList = register_module("up_blocks", new ModuleList());
        int in = c0;
        for (int i = 0; i < config.numBlocks(); i++) {
            downBlocks.add(switch (config.downBlockTypes().get(i)) {
                case UNet2DConditionConfig.CROSS_ATTN_DOWN -> downList.add(new CrossAttnDownBlock2D(config, i, in, dtype));
                default -> downList.add(new DownBlock2D(config, i, in, dtype));
            });
            in = channels.get(i);
        }
        midBlock = register_module("mid_block", new UNetMidBlock2DCrossAttn(config, dtype));
        for (int i = 0; i < config.numBlocks(); i++) {
            upBlocks.add(switch (config.upBlockTypes().get(i)) {
                case UNet2DConditionConfig.CROSS_ATTN_UP -> upList.add(new CrossAttnUpBlock2D(config, i, dtype));
                default -> upList.add(new UpBlock2D(config, i, dtype));
            });
        }
        convNormOut = register_module("conv_norm_out", Layers.groupNorm(config.normNumGroups(), c0, config.normEps()));
        // conv_act is SiLU: no weights
        convOut = register_module("conv_out",
                Layers.conv2d(c0, config.outChannels(), config.convOutKernel(), 1, (config.convOutKernel() - 1) / 2));
    }

    /**
     * Reads {@code unetFolder/config.json} and the weights next to it, converted once to
     * {@code dtype} (Float, BFloat16, Half) on {@code device}. Throws a {@link JDiffusionException}
     * listing every missing, unexpected or mis-shaped tensor when the weights do not fit the config.
     */
    public static UNet2DConditionModel load(Path unetFolder, ScalarType dtype, Device device) {
        return load(unetFolder, null, dtype, device);
    }

    /** As {@link #load(Path, ScalarType, Device)}, reading {@code diffusion_pytorch_model.<variant>.safetensors}. */
    public static UNet2DConditionModel load(Path unetFolder, String variant, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "UNet2DConditionModel");
        WeightSource weights = weightSource(unetFolder, variant);
        UNet2DConditionModel model = new UNet2DConditionModel(UNet2DConditionConfig.fromJson(unetFolder.resolve("config.json")), dtype);
        ModelLoading.loadWeights(model, weights, dtype, device, "UNet2DConditionModel");
        return model;
    }

    /** The weights {@link #load(Path, String, ScalarType, Device)} reads, for reading them again (LoRA restores). */
    public static WeightSource weightSource(Path unetFolder, String variant) {
        List<Path> files = ModelFolder.weightFiles(unetFolder, variant);
        return new WeightSource(files, () -> StateDict.open(files, KeyMap.identity()));
    }

    /**
     * A model of {@code config} with seeded random weights ({@link RandomInit}) in {@code dtype} on
     * {@code device}: for tests and benchmarks without a checkpoint. SD 1.5 is 3.4 GB in float32.
     */
    public static UNet2DConditionModel createRandom(UNet2DConditionConfig config, long seed, ScalarType dtype, Device device) {
        ModelLoading.requireFloatingDtype(dtype, "UNet2DConditionModel");
        UNet2DConditionModel model = new UNet2DConditionModel(config);
        RandomInit.initialize(model, seed);
        model.to(device, dtype, false);
        ModelLoading.prepareForInference(model, device, dtype);
        return model;
    }

    public UNet2DConditionConfig config() {
        return config;
    }

    /**
     * One denoising prediction ({@code unet(sample, timestep, encoder_hidden_states).sample}).
     * Inputs are moved to the model's device and dtype; the result is in the model's dtype.
     *
     * @param sample              [B, in_channels, H, W] latents (4 ch; 9 for inpainting, 5 for depth)
     * @param timestep            0-dim (shared by the batch) or [B], int64 or float: used as float32
     * @param encoderHiddenStates [B, M, cross_attention_dim] text embeddings
     * @return [B, out_channels, H, W]
     */
    public Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates) {
        return forward(sample, timestep, encoderHiddenStates, null);
    }

    /**
     * As {@link #forward(Tensor, Tensor, Tensor)} with {@code class_labels} ([B] int64), which a
     * model with {@code num_class_embeds} needs (the x4 upscaler's noise level) and any other refuses.
     */
    public Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Tensor classLabels) {
        return forward(sample, timestep, encoderHiddenStates, classLabels, null);
    }

    /**
     * {@link #forward(Tensor, Tensor, Tensor, Tensor)}, also handing {@code lastLayerInput} (when not
     * null) the hidden state entering the UNet's last layer, the last up block's last resnet: the
     * deep features {@link DeepCache} reuses.
     */
    Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Tensor classLabels,
                   Consumer<Tensor> lastLayerInput) {
        Inputs in = inputs(sample, timestep, encoderHiddenStates, classLabels);
        long height = sample.size(2), width = sample.size(3);
        Tensor emb = in.emb(), context = in.context();
        sample = in.convInOutput();

        // 3. down: collect every skip connection, conv_in's output first
        List<Tensor> residuals = new ArrayList<>();
        residuals.add(sample);
        for (DownBlock block : downBlocks) {
            DownBlock.Output out = block.forward(sample, emb, context);
            sample = out.hidden();
            residuals.addAll(out.residuals());
        }

        // 4. mid
        sample = midBlock.forward(sample, emb, context);

        // 5. up: each block takes the last numResnets() skip connections off the list
        for (int i = 0; i < upBlocks.size(); i++) {
            UpBlock block = upBlocks.get(i);
            int keep = residuals.size() - block.numResnets();
            List<Tensor> skips = new ArrayList<>(residuals.subList(keep, residuals.size()));
            residuals = new ArrayList<>(residuals.subList(0, keep));
            long[] upsampleSize = upsampleSize(i, height, width, residuals.isEmpty() ? null : residuals.getLast());
            if (lastLayerInput != null && i == upBlocks.size() - 1) {
                // the last block in two pieces: all layers but the last, whose input is kept, then the last
                int n = block.numResnets();
                sample = block.forwardLayers(sample, skips.subList(1, n), emb, context, 0, n - 1);
                lastLayerInput.accept(sample);
                sample = block.upsample(block.forwardLayers(sample, skips.subList(0, 1), emb, context, n - 1, n), upsampleSize);
            } else {
                sample = block.forward(sample, skips, emb, context, upsampleSize);
            }
        }

        // 6. post-process
        return postProcess(sample);
    }

    /**
     * The UNet's shallow path, on the {@code lastLayerInput} an earlier {@link #forward(Tensor,
     * Tensor, Tensor, Tensor, Consumer)} kept: the time embedding, conv_in, the last layer fed those
     * kept features and conv_in's fresh output (its skip connection), and the output layers. What
     * DeepCache computes between its full steps.
     */
    Tensor forwardShallow(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Tensor classLabels,
                          Tensor lastLayerInput) {
        Inputs in = inputs(sample, timestep, encoderHiddenStates, classLabels);
        UpBlock last = upBlocks.getLast();
        int n = last.numResnets();
        // conv_in's output is the first skip connection, which the UNet's last layer consumes
        Tensor h = last.forwardLayers(lastLayerInput, List.of(in.convInOutput()), in.emb(), in.context(), n - 1, n);
        return postProcess(last.upsample(h, null));
    }

    /** What every path of the forward computes first: steps 1 and 2. */
    private record Inputs(Tensor context, Tensor emb, Tensor convInOutput) {}

    private Inputs inputs(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Tensor classLabels) {
        checkInputs(sample, timestep, encoderHiddenStates);
        if ((classLabels == null) != (classEmbedding == null)) {
            throw new JDiffusionException(classEmbedding == null ? "this UNet has no class embedding: pass no class labels"
                    : "this UNet has num_class_embeds " + config.numClassEmbeds() + ": class_labels must be given");
        }
        Tensor context = prepareContext(encoderHiddenStates);

        // 1. time (plus the class embedding: diffusers' get_class_embed, added since class_embeddings_concat is false)
        Tensor emb = embedTime(timestep, sample.size(0)); // [B, 4*C0]
        if (classLabels != null) {
            emb = emb.add(classEmbedding.forward(classLabels.to(convIn.weight().device(), ScalarType.Long)).to(emb.scalar_type()));
        }

        // 2. pre-process
        return new Inputs(context, emb, preProcess(sample));
    }

    // The forward in segments, for training code that runs it block by block
    // (training/GradientCheckpointing); forward above is these calls in order.

    /** The down blocks in order (diffusers' {@code down_blocks}). */
    public List<DownBlock> downBlocks() {
        return List.copyOf(downBlocks);
    }

    /** The mid block (diffusers' {@code mid_block}). */
    public UNetMidBlock2DCrossAttn midBlock() {
        return midBlock;
    }

    /** The up blocks in order, deepest first (diffusers' {@code up_blocks}). */
    public List<UpBlock> upBlocks() {
        return List.copyOf(upBlocks);
    }

    /** encoder_hidden_states [B, M, D] on the model's device, in its dtype (a no-op when already so). */
    public Tensor prepareContext(Tensor encoderHiddenStates) {
        Tensor weight = convIn.weight();
        return encoderHiddenStates.to(weight.device(), weight.scalar_type());
    }

    /**
     * Step 1 of {@link #forward}: timestep (0-dim or [B]) -> temb [batch, 4*C0] in the model's
     * dtype. The sinusoid is float32 and weightless; time_embedding's linears carry the gradient.
     */
    public Tensor embedTime(Tensor timestep, long batch) {
        Tensor weight = convIn.weight();
        // 0-dim -> [1] -> [B]; sinusoidal in float32, then the compute dtype
        Tensor t = timestep.reshape(-1);
        t = t.to(weight.device(), t.scalar_type()).expand(batch);
        return timeEmbedding.forward(timeProj.forward(t).to(weight.scalar_type()));
    }

    /** Step 2 of {@link #forward}: sample [B, in, H, W] -> conv_in's output [B, C0, H, W] (the first skip connection). */
    public Tensor preProcess(Tensor sample) {
        Tensor weight = convIn.weight();
        sample = ChannelsLast.follow(sample.to(weight.device(), weight.scalar_type()), weight);
        if (config.centerInputSample()) sample = Functional.mul(sample, 2.0).sub(new Scalar(1.0));
        return convIn.forward(sample);
    }

    /**
     * The size up block {@code i} upsamples to: null (x2) unless the latents' {@code height} or
     * {@code width} is not a multiple of 2^(blocks-1), in which case the skip connection the next
     * block consumes first ({@code nextSkip}) decides it (diffusers' forward_upsample_size). Null
     * for the last block, which does not upsample.
     */
    public long[] upsampleSize(int i, long height, long width, Tensor nextSkip) {
        long factor = 1L << (config.numBlocks() - 1);
        boolean forwardUpsampleSize = height % factor != 0 || width % factor != 0;
        boolean last = i == upBlocks.size() - 1;
        return !last && forwardUpsampleSize ? new long[] {nextSkip.size(2), nextSkip.size(3)} : null;
    }

    /** Step 6 of {@link #forward}: the last up block's output -> conv_norm_out, SiLU, conv_out [B, out, H, W], plain layout. */
    public Tensor postProcess(Tensor hidden) {
        hidden = Functional.siluOfTemporary(convNormOut.forward(hidden));
        return convOut.forward(hidden).contiguous(); // the caller gets the plain layout whatever ran inside
    }

    /** Throws the {@link JDiffusionException} {@link #forward} throws for inputs of the wrong shape. */
    public void checkInputs(Tensor sample, Tensor timestep, Tensor context) {
        if (sample.dim() != 4 || sample.size(1) != config.inChannels()) {
            throw new JDiffusionException("UNet sample must be [B, " + config.inChannels() + ", H, W], got "
                    + Tensors.shapeString(sample));
        }
        if (timestep.numel() != 1 && (timestep.dim() != 1 || timestep.size(0) != sample.size(0))) {
            throw new JDiffusionException("UNet timestep must be one value or one per sample ["
                    + sample.size(0) + "], got " + Tensors.shapeString(timestep));
        }
        if (context.dim() != 3 || context.size(0) != sample.size(0)
                || !config.crossAttentionDim().contains((int) context.size(2))) {
            throw new JDiffusionException("UNet encoder_hidden_states must be [" + sample.size(0) + ", M, "
                    + config.crossAttentionDim().getFirst() + "], got " + Tensors.shapeString(context));
        }
    }
}
