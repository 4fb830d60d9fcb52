package jdiffusion.models.clip;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.io.ModelFolder;
import jdiffusion.nn.JavaModule;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.WeightLoader;
import jdiffusion.weights.WeightSource;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * transformers {@code CLIPTextModel}
 * (<a href="https://github.com/huggingface/transformers/blob/v4.47.0/src/transformers/models/clip/modeling_clip.py">modeling_clip.py</a>):
 * the Stable Diffusion text encoder (OpenAI CLIP ViT-L/14 for SD 1.x, OpenCLIP ViT-H/14 for SD 2.x).
 *
 * <p>Registered names equal the checkpoint keys ({@code text_model.encoder.layers.0.self_attn.q_proj.weight}).
 * Build or {@link #load} it outside any {@link PointerScope}; run the forwards inside one. The
 * inference forwards run under {@link NoGradGuard}; {@link #encodeForTraining} is the one path
 * that records gradients (training the text encoder, e.g. the tiny model from scratch).
 *
 * <pre>{@code
 * CLIPTextModel te = CLIPTextModel.load(folder.resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
 * try (PointerScope scope = new PointerScope()) {
 *     Tensor promptEmbeds = te.encode(inputIds); // [B, 77] int64 -> [B, 77, 768]
 * }
 * }</pre>
 */
public final class CLIPTextModel extends JavaModule {
    private final CLIPTextConfig config;
    final CLIPTextTransformer textModel;

    /** A model with libtorch's default random initialisation, float32 on the CPU. */
    public CLIPTextModel(CLIPTextConfig config) {
        this.config = config;
        this.textModel = register_module("text_model", new CLIPTextTransformer(config));
        eval(); // no dropout anywhere, but mark it as transformers' from_pretrained does
    }

    /**
     * Loads a transformers text encoder folder ({@code config.json} and {@code model.safetensors},
     * e.g. a diffusers pipeline's {@code text_encoder/}), converting the weights once to
     * {@code dtype} (Float, BFloat16 or Half) on {@code device}.
     */
    public static CLIPTextModel load(Path textEncoderFolder, ScalarType dtype, Device device) {
        return load(textEncoderFolder, null, dtype, device);
    }

    /** As {@link #load(Path, ScalarType, Device)}, reading {@code model.<variant>.safetensors} ("fp16", ...). */
    public static CLIPTextModel load(Path textEncoderFolder, String variant, ScalarType dtype, Device device) {
        checkFloatingDtype(dtype);
        WeightSource weights = weightSource(textEncoderFolder, variant);
        CLIPTextConfig config = CLIPTextConfig.fromJson(textEncoderFolder.resolve("config.json"));
        CLIPTextModel model = new CLIPTextModel(config);
        try {
            model.to(device, dtype, false);
            // Closed in reverse order: views and temporaries are released before the mapping is.
            try (StateDict state = weights.open();
                 PointerScope scope = new PointerScope()) {
                WeightLoader.load(model, state, "text encoder (CLIPTextModel)");
            }
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        return model;
    }

    /** The weights {@link #load(Path, String, ScalarType, Device)} reads, for reading them again (LoRA restores). */
    public static WeightSource weightSource(Path textEncoderFolder, String variant) {
        List<Path> files = ModelFolder.weightFiles(textEncoderFolder, variant);
        return new WeightSource(files, () -> StateDict.open(files, KeyMap.clipText()));
    }

    public CLIPTextConfig config() {
        return config;
    }

    /**
     * transformers' forward with {@code output_hidden_states=True}: inputIds [B, T] (int64, T up to
     * max_position_embeddings, any device) to last_hidden_state, pooler_output and hidden_states.
     */
    public CLIPTextOutput forward(Tensor inputIds) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return textModel.forward(checkIds(inputIds));
        }
    }

    /** {@code last_hidden_state}: [B, T] int64 -> [B, T, C], the SD prompt embedding. */
    public Tensor encode(Tensor inputIds) {
        return encode(inputIds, 0);
    }

    /**
     * The prompt embedding with diffusers' {@code clip_skip}: {@code final_layer_norm(hidden_states[-(clipSkip + 1)])},
     * so 0 is {@code last_hidden_state} and 1 the penultimate layer (AUTOMATIC1111's "Clip skip: 2").
     * Only the layers needed are run. [B, T] int64 -> [B, T, C].
     */
    public Tensor encode(Tensor inputIds, int clipSkip) {
        checkClipSkip(clipSkip);
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return textModel.forward(checkIds(inputIds), config.numHiddenLayers() - clipSkip);
        }
    }

    /**
     * {@link #encode(Tensor)} with autograd recording, for training: [B, T] int64 -> [B, T, C]
     * {@code last_hidden_state}. The caller decides about gradients (a NoGradGuard around it
     * gives the inference result).
     */
    public Tensor encodeForTraining(Tensor inputIds) {
        return textModel.forward(checkIds(inputIds), config.numHiddenLayers());
    }

    // ---------------------------------------------------------------------------------------------
    // The inputs_embeds path: textual inversion and prompt surgery replace rows of the token
    // embeddings before the encoder sees them, without touching this (shared) model's table.

    /**
     * {@code token_embedding(inputIds)}: [B, T] int64 -> [B, T, C] token embeddings, position
     * embeddings not added (transformers' {@code inputs_embeds}). A new tensor, not a view of the table.
     */
    public Tensor tokenEmbeddings(Tensor inputIds) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return textModel.embeddings.tokenEmbedding.forward(checkIds(inputIds));
        }
    }

    /** A copy of the learned position embeddings: [max_position_embeddings, C], row i for position i. */
    public Tensor positionEmbeddings() {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return textModel.embeddings.positionEmbedding.weight().clone();
        }
    }

    /** {@link #encodeEmbeddings(Tensor, int)} without clip skip: {@code last_hidden_state}. */
    public Tensor encodeEmbeddings(Tensor inputsEmbeds) {
        return encodeEmbeddings(inputsEmbeds, 0);
    }

    /**
     * {@link #encode(Tensor, int)} with the token lookup skipped: inputsEmbeds [B, T, C] are token
     * embeddings as {@link #tokenEmbeddings} returns them (the position embeddings are added here,
     * as transformers does for {@code inputs_embeds}). {@code encodeEmbeddings(tokenEmbeddings(ids), k)}
     * equals {@code encode(ids, k)} exactly. -> [B, T, C].
     */
    public Tensor encodeEmbeddings(Tensor inputsEmbeds, int clipSkip) {
        checkClipSkip(clipSkip);
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return textModel.forwardEmbeds(checkEmbeds(inputsEmbeds), config.numHiddenLayers() - clipSkip);
        }
    }

    /**
     * {@link #forward(Tensor)} from token embeddings [B, T, C]; inputIds [B, T] only locate each
     * sequence's end-of-text token for {@code pooler_output}.
     */
    public CLIPTextOutput forwardEmbeddings(Tensor inputsEmbeds, Tensor inputIds) {
        Tensor embeds = checkEmbeds(inputsEmbeds);
        if (inputIds.dim() != 2 || inputIds.size(0) != embeds.size(0) || inputIds.size(1) != embeds.size(1)) {
            throw new JDiffusionException("input ids of shape " + Tensors.shapeString(inputIds)
                    + " do not match input embeddings of shape " + Tensors.shapeString(inputsEmbeds));
        }
        Device device = textModel.embeddings.tokenEmbedding.weight().device();
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return textModel.forwardEmbeds(embeds, inputIds.to(device, ScalarType.Long));
        }
    }

    private void checkClipSkip(int clipSkip) {
        if (clipSkip < 0 || clipSkip > config.numHiddenLayers()) {
            throw new JDiffusionException("clip_skip " + clipSkip + " is out of range: this text encoder has "
                    + config.numHiddenLayers() + " layers, so use 0.." + config.numHiddenLayers()
                    + " (0 = last layer, 1 = penultimate)");
        }
    }

    /** Validates token embeddings and moves them to the model's device and dtype: [B, T, C]. */
    private Tensor checkEmbeds(Tensor inputsEmbeds) {
        if (inputsEmbeds.dim() != 3 || inputsEmbeds.size(2) != config.hiddenSize()) {
            throw new JDiffusionException("input embeddings must have shape [batch, sequence, " + config.hiddenSize()
                    + "] (hidden_size), got " + Tensors.shapeString(inputsEmbeds));
        }
        long t = inputsEmbeds.size(1);
        if (t < 1 || t > config.maxPositionEmbeddings() || inputsEmbeds.size(0) < 1) {
            throw new JDiffusionException("input embeddings of shape " + Tensors.shapeString(inputsEmbeds)
                    + ": the sequence must hold 1.." + config.maxPositionEmbeddings() + " tokens (max_position_embeddings)");
        }
        if (!inputsEmbeds.is_floating_point()) {
            throw new JDiffusionException("input embeddings must be floating point, got " + Tensors.dtype(inputsEmbeds));
        }
        Tensor weight = textModel.embeddings.tokenEmbedding.weight();
        return inputsEmbeds.to(weight.device(), weight.scalar_type());
    }

    /** Validates token ids and moves them to the model's device as int64 [B, T]. */
    private Tensor checkIds(Tensor inputIds) {
        if (inputIds.dim() != 2) {
            throw new JDiffusionException("input ids must have shape [batch, sequence], got "
                    + Tensors.shapeString(inputIds));
        }
        ScalarType type = Tensors.dtype(inputIds);
        if (type != ScalarType.Long && type != ScalarType.Int) {
            throw new JDiffusionException("input ids must be int64 token ids, got " + type);
        }
        long t = inputIds.size(1);
        if (t < 1 || t > config.maxPositionEmbeddings() || inputIds.size(0) < 1) {
            throw new JDiffusionException("input ids of shape " + Tensors.shapeString(inputIds)
                    + ": the sequence must hold 1.." + config.maxPositionEmbeddings()
                    + " tokens (max_position_embeddings); tokenize with truncation to " + config.maxPositionEmbeddings());
        }
        long min = inputIds.min().item_long();
        long max = inputIds.max().item_long();
        if (min < 0 || max >= config.vocabSize()) {
            throw new JDiffusionException("input ids hold " + (min < 0 ? min : max) + ", outside the vocabulary 0.."
                    + (config.vocabSize() - 1) + "; the tokenizer does not belong to this text encoder");
        }
        Device device = textModel.embeddings.tokenEmbedding.weight().device();
        return inputIds.to(device, ScalarType.Long);
    }

    private static void checkFloatingDtype(ScalarType dtype) {
        switch (dtype.intern()) {
            case Float, BFloat16, Half -> { }
            default -> throw new JDiffusionException("the text encoder computes in Float, BFloat16 or Half, not " + dtype);
        }
    }
}
