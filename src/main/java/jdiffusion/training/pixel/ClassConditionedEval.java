package jdiffusion.training.pixel;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntConsumer;
import jdiffusion.image.ImageGrid;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.pipelines.DDIMPipeline;
import jdiffusion.pipelines.DDPMPipeline;
import jdiffusion.pipelines.PixelRequest;
import jdiffusion.pipelines.PixelResult;
import jdiffusion.schedulers.DDIMScheduler;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.CpuAutocast;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The quality measure of a class-conditioned Fashion-MNIST model: a {@link FashionClassifier}
 * trained on the real training set (its test-set accuracy says how far it can be trusted) labels
 * {@code perClass} samples of each requested class; the score of class c is the share called c, and
 * the rest of its row says what the misses look like (a fine-tuned class moving to new data shows
 * there too).
 */
public final class ClassConditionedEval {
    /** DDIM (eta 0) or DDPM's ancestral sampling, as the course's notebook samples (1000 steps). */
    public enum Sampler { DDIM, DDPM }

    /**
     * @param classes   the classes sampled, in order
     * @param confusion {@code confusion[i][p]}: samples of {@code classes[i]} the classifier called p
     * @param grid      one row per sampled class
     */
    public record Report(double classifierTestAccuracy, int[] classes, int[][] confusion, int samplesPerClass,
                         Sampler sampler, int steps, double guidanceScale, boolean bf16, BufferedImage grid) {
        /** The share of {@code classes[i]}'s samples called {@code predicted}. */
        public double share(int i, int predicted) {
            return (double) confusion[i][predicted] / samplesPerClass;
        }

        /** The share of {@code classes[i]}'s samples called what was asked for. */
        public double accuracy(int i) {
            return share(i, classes[i]);
        }

        public double meanAccuracy() {
            double s = 0;
            for (int i = 0; i < classes.length; i++) s += accuracy(i);
            return s / classes.length;
        }
    }

    private ClassConditionedEval() {}

    /**
     * @param classes        the classes to sample (each 0-9)
     * @param classifierFile read if it exists, else trained ({@link FashionClassifier#DEFAULT_EPOCHS} epochs) and written there
     * @param guidanceScale  classifier-free guidance (a model trained with class dropout), 1 = off
     * @param bf16           the UNet's forwards under bf16 autocast (as {@code train-class-conditioned --dtype bf16}
     *                       trains): ~1.5x faster on a CPU with AMX; the classifier runs in float32 either way
     * @param progress       told the number of samples drawn so far
     */
    public static Report run(Path model, Path data, Path classifierFile, int[] classes, int perClass, Sampler sampler,
                             int steps, double guidanceScale, long seed, boolean bf16, IntConsumer progress) {
        for (int c : classes) FashionMnist.requireClass(c, "class");
        FashionMnist test = FashionMnist.load(data, false);
        FashionClassifier classifier;
        if (Files.isRegularFile(classifierFile)) {
            classifier = FashionClassifier.load(classifierFile);
        } else {
            classifier = FashionClassifier.train(FashionMnist.load(data, true), FashionClassifier.DEFAULT_EPOCHS, seed);
            classifier.save(classifierFile);
        }
        try {
            double testAccuracy = classifier.accuracy(test);
            String schedulerJson = DDPMFineTune.readString(model.resolve("scheduler").resolve("scheduler_config.json"));
            SchedulerConfigFile schedulerConfig = SchedulerConfigFile.parse(schedulerJson);
            PixelDenoiser unet = PixelDenoiser.load(model.resolve("unet"), ScalarType.Float, Tensors.CPU);
            try {
                Function<PixelRequest, PixelResult> pipe = switch (sampler) {
                    case DDIM -> new DDIMPipeline(unet, (DDIMScheduler) Schedulers.create("DDIMScheduler", schedulerConfig, Map.of()))::call;
                    case DDPM -> new DDPMPipeline(unet, (DDPMScheduler) Schedulers.create("DDPMScheduler", schedulerConfig, Map.of()))::call;
                };
                int[][] confusion = new int[classes.length][FashionMnist.NUM_CLASSES];
                List<BufferedImage> rows = new ArrayList<>();
                int drawn = 0;
                for (int i = 0; i < classes.length; i++) {
                    int c = classes[i];
                    for (int from = 0; from < perClass; from += 100) {
                        int n = Math.min(100, perClass - from);
                        PixelRequest request = new PixelRequest(n, steps, seed + 1000L * c + from, c, null, guidanceScale);
                        PixelResult r;
                        try (CpuAutocast on = bf16 ? CpuAutocast.bf16() : null) { // null: nothing to close
                            r = pipe.apply(request);
                        }
                        try (PointerScope scope = new PointerScope()) {
                            Tensor images = r.images().permute(0, 3, 1, 2).mul(new org.bytedeco.pytorch.Scalar(2))
                                    .sub(new org.bytedeco.pytorch.Scalar(1)); // NHWC [0, 1] -> NCHW [-1, 1]
                            for (long p : classifier.predict(images)) confusion[i][(int) p]++;
                            if (from == 0) rows.addAll(ImageGrid.fromNhwc(r.images()).subList(0, Math.min(8, n)));
                        }
                        drawn += n;
                        progress.accept(drawn);
                    }
                }
                int cols = Math.min(8, perClass);
                return new Report(testAccuracy, classes.clone(), confusion, perClass, sampler, steps, guidanceScale, bf16,
                        ImageGrid.grid(rows, classes.length, cols));
            } finally {
                unet.close();
            }
        } finally {
            classifier.close();
        }
    }
}
