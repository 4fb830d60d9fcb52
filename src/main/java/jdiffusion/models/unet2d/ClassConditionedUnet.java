package jdiffusion.models.unet2d;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.Functional;
import jdiffusion.nn.JavaModule;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.KeyMap;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.EmbeddingImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The diffusion course's unit 2 {@code ClassConditionedUnet}
 * (https://github.com/huggingface/diffusion-models-class, unit 2 "Class-conditioned Diffusion Model
 * Example"): a learned class embedding broadcast over the image and concatenated after the image
 * channels, then an unconditional {@link UNet2DModel} whose in_channels counts both.
 *
 * <p>On disk: a diffusers {@code UNet2DModel} folder (loadable by diffusers as it is) plus
 * {@code class_emb.safetensors} holding {@code class_emb.weight} [classes, embedding size].
 *
 * <pre>{@code
 * ClassConditionedUnet net = ClassConditionedUnet.load(Path.of("fashion-model"), ScalarType.Float, Tensors.CPU);
 * Tensor eps = net.forward(x, t, Tensors.fromLongs(new long[] {3, 7}, 2)); // x [2, 1, 28, 28]
 * }</pre>
 */
public final class ClassConditionedUnet extends JavaModule implements PixelDenoiser {
    public static final String CLASS_EMB_FILE = "class_emb.safetensors";
    /**
     * The metadata key of {@link #CLASS_EMB_FILE} saying that the net was trained with class dropout, so
     * that its all-zero class embedding ({@link PixelDenoiser#NO_CLASS}) means "any class".
     */
    public static final String NO_CLASS_METADATA = "jdiffusion_no_class";
    /** The value of {@link #NO_CLASS_METADATA}: "no class" is the all-zero embedding. */
    public static final String NO_CLASS_ZERO_EMBEDDING = "zero_embedding";

    private final EmbeddingImpl classEmb; // [numClasses, embSize]
    private final UNet2DModel model;      // in_channels = image channels + embSize
    private final int numClasses;
    private final int embSize;
    private final boolean learnsNoClass;

    /** A randomly initialised net: {@code unetConfig.inChannels()} must be image channels + {@code embSize}. */
    public ClassConditionedUnet(int numClasses, int embSize, UNet2DModel model) {
        this(numClasses, embSize, model, false);
    }

    /**
     * As above; {@code learnsNoClass}: trained (or to be trained) with class dropout, so that {@link
     * PixelDenoiser#NO_CLASS} labels, whose class embedding is all zeros, give the unconditional
     * prediction that classifier-free guidance needs. The notebook's net is not.
     */
    public ClassConditionedUnet(int numClasses, int embSize, UNet2DModel model, boolean learnsNoClass) {
        if (numClasses < 1 || embSize < 1) {
            throw new JDiffusionException("a class-conditioned UNet needs at least one class and embedding size >= 1");
        }
        if (model.config().inChannels() <= embSize) {
            throw new JDiffusionException("the UNet's in_channels (" + model.config().inChannels()
                    + ") must be the image channels plus the class embedding size (" + embSize + ")");
        }
        if (model.config().classConditioned()) {
            throw new JDiffusionException("the UNet of a class-concatenating net must have no class embedding of its own");
        }
        this.numClasses = numClasses;
        this.embSize = embSize;
        this.learnsNoClass = learnsNoClass;
        classEmb = register_module("class_emb", new EmbeddingImpl(numClasses, embSize));
        this.model = register_module("model", model);
    }

    /** Reads a folder written by {@link #writeTo} (or the course's saved net split the same way). */
    public static ClassConditionedUnet load(Path folder, ScalarType dtype, Device device) {
        Path embFile = folder.resolve(CLASS_EMB_FILE);
        if (!Files.isRegularFile(embFile)) {
            throw new JDiffusionException(folder + " has no " + CLASS_EMB_FILE
                    + ": not a class-conditioned model (a plain UNet2DModel folder loads with UNet2DModel.load)");
        }
        UNet2DModel unet = UNet2DModel.load(folder, dtype, device);
        long[] shape;
        boolean noClass;
        try (var file = jdiffusion.io.SafetensorsFile.open(embFile)) {
            noClass = NO_CLASS_ZERO_EMBEDDING.equals(file.metadata().get(NO_CLASS_METADATA));
        }
        try (var weights = jdiffusion.weights.StateDict.open(List.of(embFile), KeyMap.identity())) {
            if (!weights.contains("class_emb.weight")) {
                unet.close();
                throw new JDiffusionException(embFile + " has no tensor class_emb.weight");
            }
            shape = weights.shape("class_emb.weight");
        }
        if (shape.length != 2) {
            unet.close();
            throw new JDiffusionException(embFile + ": class_emb.weight must be [classes, size], got " + Tensors.shapeString(shape));
        }
        ClassConditionedUnet net = new ClassConditionedUnet((int) shape[0], (int) shape[1], unet, noClass);
        // only class_emb is read here: the UNet's weights are already in
        ModelLoading.loadWeights(net.classEmb, List.of(embFile), k -> k.replaceFirst("^class_emb\\.", ""), dtype, device,
                "class embedding");
        return net;
    }

    /** The learned table {@code class_emb.weight} [classes, embedding size] (the live parameter, not a copy). */
    public Tensor classEmbeddingTable() {
        return classEmb.weight();
    }

    public UNet2DModel unet() {
        return model;
    }

    @Override
    public List<Integer> sampleSize() {
        return model.config().sampleSize();
    }

    @Override
    public org.bytedeco.pytorch.Module module() {
        return this;
    }

    @Override
    public int numClasses() {
        return numClasses;
    }

    @Override
    public boolean learnsNoClass() {
        return learnsNoClass;
    }

    public int embeddingSize() {
        return embSize;
    }

    /** Image channels: the UNet's input less the class embedding. */
    @Override
    public int imageChannels() {
        return model.config().inChannels() - embSize;
    }

    /**
     * x [B, C, H, W], t 0-dim or [B], classLabels [B] int64 -> the noise prediction [B, C_out, H, W].
     * {@link #netInput} is the UNet's input.
     */
    @Override
    public Tensor forward(Tensor x, Tensor t, Tensor classLabels) {
        return model.forward(netInput(x, classLabels), t, null);
    }

    /**
     * cat(x, class_emb(labels) broadcast to [B, emb, H, W]) on the channels: [B, C + emb, H, W]; a
     * {@link PixelDenoiser#NO_CLASS} label's embedding is all zeros.
     */
    public Tensor netInput(Tensor x, Tensor classLabels) {
        if (x.dim() != 4 || x.size(1) != imageChannels()) {
            throw new JDiffusionException("the class-conditioned UNet takes [B, " + imageChannels() + ", H, W], got "
                    + Tensors.shapeString(x));
        }
        if (classLabels == null || classLabels.dim() != 1 || classLabels.size(0) != x.size(0)) {
            throw new JDiffusionException("give one class label per sample [" + x.size(0) + "], got "
                    + (classLabels == null ? "none" : Tensors.shapeString(classLabels)));
        }
        long[] given = Tensors.toLongs(classLabels.to(ScalarType.Long));
        long[] real = java.util.Arrays.stream(given).filter(l -> l != NO_CLASS).toArray();
        ClassLabels.check(real, numClasses);
        Tensor weight = classEmb.weight();
        long b = x.size(0), h = x.size(2), w = x.size(3);
        Tensor labels = classLabels.to(weight.device(), ScalarType.Long);
        Tensor cond;
        if (real.length == given.length) {
            cond = classEmb.forward(labels); // [B, emb]
        } else {
            // row 0 looked up and zeroed: no gradient reaches the table from a "no class" sample
            Tensor keep = labels.ne(new org.bytedeco.pytorch.Scalar(NO_CLASS)).unsqueeze(1).to(weight.scalar_type());
            cond = classEmb.forward(labels.clamp_min(new org.bytedeco.pytorch.Scalar(0))).mul(keep);
        }
        cond = cond.view(b, embSize, 1, 1).expand(b, embSize, h, w);
        return Functional.cat(x.to(weight.device(), weight.scalar_type()), cond, 1);
    }
}
