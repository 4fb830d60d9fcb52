package jdiffusion.pipelines;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.models.dpt.DPTForDepthEstimation;
import jdiffusion.models.dpt.DPTImageProcessor;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A depth estimator with its image processor (the {@code depth_estimator} and {@code feature_extractor}
 * of a depth2img model, or a transformers DPT folder such as Intel/dpt-hybrid-midas): an image in, its
 * relative inverse depth out.
 *
 * <pre>{@code
 * try (var depth = DepthEstimation.load(Path.of("dpt-hybrid-midas"), null, PipelineOptions.defaults())) {
 *     BufferedImage png16 = DepthEstimation.toGray16(depth.estimateAtImageSize(photo));
 * }
 * }</pre>
 */
public record DepthEstimation(DPTForDepthEstimation model, DPTImageProcessor processor) implements AutoCloseable {
    /**
     * {@code dptDir}'s config.json and weights; the processor from {@code processorJson}, or from
     * {@code dptDir/preprocessor_config.json} when null. Build outside any PointerScope.
     */
    public static DepthEstimation load(Path dptDir, Path processorJson, PipelineOptions options) {
        Path processor = processorJson != null ? processorJson : dptDir.resolve("preprocessor_config.json");
        if (!Files.isRegularFile(processor)) {
            throw new JDiffusionException(processor + " is missing: the depth estimator's DPTImageProcessor settings");
        }
        DPTImageProcessor extractor = DPTImageProcessor.fromJson(processor);
        return new DepthEstimation(DPTForDepthEstimation.load(dptDir, options.dtype(), options.device()), extractor);
    }

    /** The depth of {@code image} at the processor's size: [1, H', W'] float32 (caller's scope). */
    public Tensor estimate(BufferedImage image) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            return model.forward(processor.preprocess(List.of(image))).predictedDepth().to(ScalarType.Float);
        }
    }

    /** The depth at the image's own size: bicubic (align_corners False), as transformers' post_process_depth_estimation. */
    public DepthMap estimateAtImageSize(BufferedImage image) {
        try (PointerScope scope = new PointerScope()) {
            Tensor depth = estimate(image).unsqueeze(1);
            depth = torch.upsample_bicubic2d(depth, new long[] {image.getHeight(), image.getWidth()}, false);
            return new DepthMap(image.getHeight(), image.getWidth(), Tensors.toFloats(depth.to(Tensors.CPU, ScalarType.Float)));
        }
    }

    /** A 16-bit grey image of the map, min-max scaled to 0..65535 (white = near). */
    public static BufferedImage toGray16(DepthMap depth) {
        float min = Float.POSITIVE_INFINITY, max = Float.NEGATIVE_INFINITY;
        for (float v : depth.values()) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        BufferedImage out = new BufferedImage(depth.width(), depth.height(), BufferedImage.TYPE_USHORT_GRAY);
        var raster = out.getRaster();
        for (int y = 0; y < depth.height(); y++) {
            for (int x = 0; x < depth.width(); x++) {
                double v = (depth.values()[y * depth.width() + x] - min) / (max - min);
                raster.setSample(x, y, 0, (int) Math.round(v * 65535));
            }
        }
        return out;
    }

    @Override
    public void close() {
        model.close();
    }
}
