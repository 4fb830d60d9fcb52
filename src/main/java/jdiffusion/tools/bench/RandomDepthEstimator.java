package jdiffusion.tools.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.models.dpt.DPTConfig;
import jdiffusion.models.dpt.DPTForDepthEstimation;
import jdiffusion.nn.RandomInit;
import jdiffusion.training.PipelineWriter;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * create-random's {@code depth_estimator/} (a DPT-Hybrid with seeded random weights, config.json and
 * model.safetensors as transformers' save_pretrained writes them) and {@code feature_extractor/}
 * (stable-diffusion-2-depth's DPTImageProcessor settings at the model's image size).
 */
final class RandomDepthEstimator {
    private static final ObjectMapper JSON = new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    private RandomDepthEstimator() {}

    /** Writes both folders under {@code folder}; returns the estimator's parameter count. */
    static long write(DPTConfig config, Path folder, ScalarType storage, long seed) {
        DPTForDepthEstimation model = new DPTForDepthEstimation(config);
        try {
            RandomInit.initialize(model, seed);
            long count = RandomPipelineFolder.parameterCount(model);
            Path dir = folder.resolve("depth_estimator");
            ObjectNode c = JSON.createObjectNode();
            c.putArray("architectures").add("DPTForDepthEstimation");
            c.setAll((ObjectNode) JSON.valueToTree(config));
            c.put("model_type", "dpt");
            ((ObjectNode) c.get("backbone_config")).put("model_type", "bit");
            c.put("torch_dtype", storage.value == ScalarType.Half.value ? "float16" : "float32");
            write(dir.resolve("config.json"), c.toPrettyString());
            PipelineWriter.writeWeights(dir.resolve("model.safetensors"), model, storage);
            write(folder.resolve("feature_extractor").resolve("preprocessor_config.json"), """
                    {
                      "do_normalize": true,
                      "do_pad": false,
                      "do_rescale": true,
                      "do_resize": true,
                      "ensure_multiple_of": 1,
                      "image_mean": [0.5, 0.5, 0.5],
                      "image_processor_type": "DPTImageProcessor",
                      "image_std": [0.5, 0.5, 0.5],
                      "keep_aspect_ratio": false,
                      "resample": 2,
                      "rescale_factor": 0.00392156862745098,
                      "size": {"height": %d, "width": %d}
                    }
                    """.formatted(config.imageSize(), config.imageSize()));
            return count;
        } finally {
            model.close();
        }
    }

    private static void write(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new JDiffusionException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
