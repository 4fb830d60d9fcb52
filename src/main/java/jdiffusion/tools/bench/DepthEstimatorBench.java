package jdiffusion.tools.bench;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.pipelines.DepthEstimation;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The depth estimator's share of a depth-to-image run: loading the DPT and estimating one image's
 * depth (DPTImageProcessor's resize to its own size, then the model), as {@code depth2img} does
 * before its denoising loop. The UNet step and VAE of a depth model are the ordinary benchmark's.
 *
 * <p>Example: {@code DepthEstimatorBench.run(Path.of("sd2-depth"), ScalarType.BFloat16, 512, 3)}.
 */
public final class DepthEstimatorBench {
    private DepthEstimatorBench() {}

    /**
     * @param estimateSeconds median of the estimates after the first (which builds oneDNN's kernels)
     * @param depthShape      the predicted depth's shape, [1, H', W'] at the processor's size
     */
    public record Result(String dtype, int imageSize, double loadSeconds, double estimateSeconds,
                         List<Double> allEstimateSeconds, long[] depthShape, boolean finite) {}

    /**
     * {@code folder}: a depth model (its {@code depth_estimator/} and {@code feature_extractor/}) or a
     * transformers DPT folder with its preprocessor_config.json. {@code repeats} at least 2.
     */
    public static Result run(Path folder, ScalarType dtype, int imageSize, int repeats) {
        NativeThreads.configureForInference();
        Path dpt = Files.isDirectory(folder.resolve("depth_estimator")) ? folder.resolve("depth_estimator") : folder;
        Path processor = folder.resolve("feature_extractor").resolve("preprocessor_config.json");
        long t0 = System.nanoTime();
        try (DepthEstimation depth = DepthEstimation.load(dpt, Files.isRegularFile(processor) ? processor : null,
                new PipelineOptions(dtype, Tensors.CPU, null))) {
            double load = (System.nanoTime() - t0) / 1e9;
            BufferedImage image = gradient(imageSize);
            List<Double> times = new ArrayList<>();
            long[] shape = null;
            boolean finite = true;
            for (int i = 0; i < Math.max(2, repeats); i++) {
                try (PointerScope scope = new PointerScope()) {
                    long start = System.nanoTime();
                    Tensor d = depth.estimate(image);
                    times.add((System.nanoTime() - start) / 1e9);
                    shape = Tensors.shape(d);
                    finite &= torch.isfinite(d).all().item_bool();
                }
            }
            List<Double> afterFirst = new ArrayList<>(times.subList(1, times.size()));
            afterFirst.sort(null);
            double median = afterFirst.get(afterFirst.size() / 2);
            return new Result(dtype == ScalarType.Float ? "fp32" : "bf16", imageSize, load, median, times, shape, finite);
        }
    }

    /** A smooth test image: the estimate's time does not depend on the content. */
    private static BufferedImage gradient(int size) {
        BufferedImage image = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) image.setRGB(x, y, (x * 255 / size) << 16 | (y * 255 / size) << 8 | 128);
        }
        return image;
    }
}
