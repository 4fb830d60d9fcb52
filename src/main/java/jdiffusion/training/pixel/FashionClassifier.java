package jdiffusion.training.pixel;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.ModelLoading;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.nn.RandomInit;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.training.AdamW;
import jdiffusion.weights.KeyMap;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A small convolutional classifier of 28x28 greyscale images into the 10 Fashion-MNIST classes, the
 * quality measure of the class-conditioned model: the share of its samples of class c that this
 * classifier, trained on the real training set, calls c. Two 3x3 conv + ReLU + 2x2 max-pool stages
 * (32 and 64 channels), a 256-wide hidden layer with dropout 0.5 and a linear layer, trained on
 * randomly mirrored images (every class looks the same mirrored; a sample need not face one way).
 *
 * <p>Why this size: the measure can only be as good as the classifier. The first version (16 and 32
 * channels, no hidden layer, two epochs: 88.4 % on the test set) called a fifth of the real T-shirts
 * and Pullovers something else, so a perfect generator would have scored ~88 %.
 */
public final class FashionClassifier extends JavaModule {
    /** The passes over the training set that eval-class-conditioned trains a missing classifier for. */
    public static final int DEFAULT_EPOCHS = 10;
    private static final double DROPOUT = 0.5;

    private final Conv2dImpl conv1; // [32, 1, 3, 3]
    private final Conv2dImpl conv2; // [64, 32, 3, 3]
    private final LinearImpl fc1;   // [256, 64 * 7 * 7]
    private final LinearImpl fc2;   // [10, 256]

    public FashionClassifier() {
        conv1 = register_module("conv1", Layers.conv2d(1, 32, 3, 1, 1));
        conv2 = register_module("conv2", Layers.conv2d(32, 64, 3, 1, 1));
        fc1 = register_module("fc1", Layers.linear(64 * 7 * 7, 256, true));
        fc2 = register_module("fc2", Layers.linear(256, FashionMnist.NUM_CLASSES, true));
    }

    /** images [B, 1, 28, 28] in [-1, 1] -> logits [B, 10]; {@code dropoutMask} [B, 256] of 0 or 1/(1-p), or null (inference). */
    private Tensor forward(Tensor images, Tensor dropoutMask) {
        Tensor h = torch.max_pool2d(torch.relu(conv1.forward(images)), new long[] {2, 2});  // [B, 32, 14, 14]
        h = torch.max_pool2d(torch.relu(conv2.forward(h)), new long[] {2, 2});            // [B, 64, 7, 7]
        h = torch.relu(fc1.forward(h.flatten(1, -1)));                                    // [B, 256]
        if (dropoutMask != null) h = h.mul(dropoutMask);
        return fc2.forward(h);
    }

    /** images [B, 1, 28, 28] in [-1, 1] -> logits [B, 10]. */
    public Tensor forward(Tensor images) {
        return forward(images, null);
    }

    /** The predicted class of each image [B, 1, 28, 28] in [-1, 1]. */
    public long[] predict(Tensor images) {
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            return Tensors.toLongs(forward(images).argmax(new org.bytedeco.pytorch.LongOptional(1), false));
        }
    }

    /** The images of {@code data} in [-1, 1], [N, 1, 28, 28]. */
    public static Tensor images(FashionMnist data) {
        int plane = data.height() * data.width();
        float[] v = new float[data.count() * plane];
        for (int i = 0; i < v.length; i++) v[i] = (data.images()[i] & 0xff) / 255f * 2f - 1f;
        return Tensors.fromFloats(v, data.count(), 1, data.height(), data.width());
    }

    /**
     * Trains a new classifier: Adam(W without decay) lr 1e-3, batch 64, {@code epochs} shuffled passes,
     * each image mirrored with probability 1/2, dropout 0.5 on the hidden layer. Seeded: the same seed
     * gives the same weights on the same machine.
     */
    public static FashionClassifier train(FashionMnist data, int epochs, long seed) {
        FashionClassifier net = new FashionClassifier();
        RandomInit.initialize(net, seed);
        Tensor images = images(data);
        long[] labels = new long[data.count()];
        for (int i = 0; i < labels.length; i++) labels[i] = data.label(i);
        Tensor labelTensor = Tensors.fromLongs(labels, labels.length);
        Map<String, Tensor> params = ModuleTensors.parameters(net, "");
        params.values().forEach(p -> p.requires_grad_(true));
        TorchGenerator rng = new TorchGenerator(seed + 1);
        int batch = 64;
        long step = 0;
        try (AdamW adam = new AdamW(params, 0)) {
            for (int epoch = 0; epoch < epochs; epoch++) {
                int[] order = ClassConditionedTraining.permutation(data.count(), seed, epoch);
                for (int from = 0; from < order.length; from += batch) {
                    try (PointerScope scope = new PointerScope()) {
                        long[] idx = new long[Math.min(batch, order.length - from)];
                        for (int i = 0; i < idx.length; i++) idx[i] = order[from + i];
                        Tensor index = Tensors.fromLongs(idx, idx.length);
                        Tensor x = images.index_select(0, index);                                 // [b, 1, 28, 28]
                        Tensor mirror = rng.rand(idx.length, 1, 1, 1).lt(new Scalar(0.5));
                        x = torch.where(mirror, x.flip(3), x);
                        Tensor keep = rng.rand(idx.length, 256).ge(new Scalar(DROPOUT)).to(ScalarType.Float)
                                .div(new Scalar(1 - DROPOUT));                                     // [b, 256]
                        Tensor loss = torch.cross_entropy(net.forward(x, keep), labelTensor.index_select(0, index));
                        loss.backward();
                        adam.step(1e-3, ++step);
                        params.values().forEach(p -> p.grad().zero_());
                    }
                }
            }
        }
        params.values().forEach(p -> p.requires_grad_(false));
        net.eval();
        return net;
    }

    /** The share of {@code data} classified correctly. */
    public double accuracy(FashionMnist data) {
        Tensor images = images(data);
        int correct = 0;
        for (int from = 0; from < data.count(); from += 500) {
            int to = Math.min(from + 500, data.count());
            long[] p = predict(images.slice(0, new org.bytedeco.pytorch.LongOptional(from), new org.bytedeco.pytorch.LongOptional(to), 1));
            for (int i = from; i < to; i++) if (p[i - from] == data.label(i)) correct++;
        }
        return (double) correct / data.count();
    }

    public void save(Path file) {
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            ModuleTensors.namedTensors(this).forEach((k, t) -> tensors.put(k, t.detach().contiguous()));
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        }
    }

    public static FashionClassifier load(Path file) {
        FashionClassifier net = new FashionClassifier();
        try {
            ModelLoading.loadWeights(net, List.of(file), KeyMap.identity(), ScalarType.Float, Tensors.CPU, "Fashion-MNIST classifier");
        } catch (JDiffusionException e) {
            // the loader lists every misfit on its own line; say it in one, with what to do
            String misfits = e.getMessage().lines().skip(1).filter(l -> l.startsWith("  ")).map(String::strip)
                    .collect(java.util.stream.Collectors.joining("; "));
            throw new JDiffusionException(file + " is not a classifier of this jdiffusion's shape (conv 32, conv 64, hidden 256"
                    + (misfits.isEmpty() ? "" : "; " + misfits) + "); delete it and eval-class-conditioned trains a new one");
        }
        return net;
    }
}
