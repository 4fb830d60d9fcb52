package jdiffusion.training.pixel;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;
import jdiffusion.image.ImageGrid;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.pipelines.DDIMPipeline;
import jdiffusion.pipelines.PixelRequest;
import jdiffusion.pipelines.PixelResult;
import jdiffusion.pipelines.StepCallback;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The quality measure of a class-conditioned Fashion-MNIST model: a {@link FashionClassifier}
 * trained on the real training set (its test-set accuracy says how far it can be trusted) labels
 * {@code perClass} samples of each class drawn with DDIM; the score of class c is the share called c.
 */
public final class ClassConditionedEval {
    /** @param perClassAccuracy indexed by class; {@code grid} one row per class */
    public record Report(double classifierTestAccuracy, double[] perClassAccuracy, int samplesPerClass, int steps,
                         BufferedImage grid) {
        public double meanAccuracy() {
            double s = 0;
            for (double a : perClassAccuracy) s += a;
            return s / perClassAccuracy.length;
        }
    }

    private ClassConditionedEval() {}

    /**
     * @param classifierFile read if it exists, else trained (two epochs) and written there
     * @param progress       told the number of samples drawn so far
     */
    public static Report run(Path model, Path data, Path classifierFile, int perClass, int steps, long seed,
                             IntConsumer progress) {
        FashionMnist test = FashionMnist.load(data, false);
        FashionClassifier classifier;
        if (Files.isRegularFile(classifierFile)) {
            classifier = FashionClassifier.load(classifierFile);
        } else {
            classifier = FashionClassifier.train(FashionMnist.load(data, true), 2, seed);
            classifier.save(classifierFile);
        }
        try {
            double testAccuracy = classifier.accuracy(test);
            String schedulerJson = DDPMFineTune.readString(model.resolve("scheduler").resolve("scheduler_config.json"));
            var ddim = (DDIMScheduler) Schedulers.create("DDIMScheduler", SchedulerConfigFile.parse(schedulerJson), java.util.Map.of());
            PixelDenoiser unet = PixelDenoiser.load(model.resolve("unet"), ScalarType.Float, Tensors.CPU);
            try {
                DDIMPipeline pipe = new DDIMPipeline(unet, ddim);
                double[] accuracy = new double[FashionMnist.NUM_CLASSES];
                List<BufferedImage> rows = new ArrayList<>();
                int drawn = 0;
                for (int c = 0; c < FashionMnist.NUM_CLASSES; c++) {
                    int correct = 0;
                    for (int from = 0; from < perClass; from += 100) {
                        int n = Math.min(100, perClass - from);
                        PixelResult r = pipe.call(new PixelRequest(n, steps, seed + 1000L * c + from, c, null), StepCallback.NONE);
                        try (PointerScope scope = new PointerScope()) {
                            Tensor images = r.images().permute(0, 3, 1, 2).mul(new org.bytedeco.pytorch.Scalar(2))
                                    .sub(new org.bytedeco.pytorch.Scalar(1)); // NHWC [0, 1] -> NCHW [-1, 1]
                            for (long p : classifier.predict(images)) if (p == c) correct++;
                            if (from == 0) rows.addAll(ImageGrid.fromNhwc(r.images()).subList(0, Math.min(8, n)));
                        }
                        drawn += n;
                        progress.accept(drawn);
                    }
                    accuracy[c] = (double) correct / perClass;
                }
                int cols = Math.min(8, perClass);
                return new Report(testAccuracy, accuracy, perClass, steps, ImageGrid.grid(rows, FashionMnist.NUM_CLASSES, cols));
            } finally {
                unet.close();
            }
        } finally {
            classifier.close();
        }
    }
}
