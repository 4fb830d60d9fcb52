package jdiffusion.training.pixel;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.unet2d.ClassConditionedUnet;
import jdiffusion.models.unet2d.PixelDenoiser;
import jdiffusion.models.unet2d.UNet2DModel;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.training.PipelineWriter;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Writes a trained pixel model as a diffusers {@code DDPMPipeline} folder: {@code model_index.json},
 * {@code unet/} (config.json + diffusion_pytorch_model.safetensors, float32, which
 * {@code UNet2DModel.from_pretrained} loads; plus class_emb.safetensors for the course's
 * class-concatenating net) and {@code scheduler/scheduler_config.json}.
 */
public final class PixelPipelineWriter {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private PixelPipelineWriter() {}

    public static void write(Path folder, PixelDenoiser model, String schedulerConfigJson) {
        writeUNet(folder.resolve("unet"), model);
        writeText(folder.resolve("scheduler").resolve("scheduler_config.json"), schedulerConfigJson);
        ObjectNode index = JSON.createObjectNode();
        index.put("_class_name", "DDPMPipeline");
        index.put("_diffusers_version", "0.31.0");
        index.putArray("scheduler").add("diffusers").add("DDPMScheduler");
        index.putArray("unet").add("diffusers").add("UNet2DModel");
        writeText(folder.resolve("model_index.json"), index.toPrettyString());
    }

    /** The unet folder alone (config.json, weights, and class_emb.safetensors when there is a class embedding). */
    public static void writeUNet(Path dir, PixelDenoiser model) {
        UNet2DModel unet = switch (model) {
            case UNet2DModel u -> u;
            case ClassConditionedUnet c -> c.unet();
        };
        writeText(dir.resolve("config.json"), unet.config().toJson().toPrettyString());
        PipelineWriter.writeWeights(dir.resolve("diffusion_pytorch_model.safetensors"), unet, ScalarType.Float);
        if (model instanceof ClassConditionedUnet c) {
            try (PointerScope scope = new PointerScope()) {
                var weight = ModuleTensors.namedTensors(c).get("class_emb.weight").detach().contiguous();
                SafetensorsWriter.write(dir.resolve(ClassConditionedUnet.CLASS_EMB_FILE), Map.of("class_emb.weight", weight),
                        c.learnsNoClass() ? Map.of("format", "pt", ClassConditionedUnet.NO_CLASS_METADATA,
                                ClassConditionedUnet.NO_CLASS_ZERO_EMBEDDING)
                                : Map.of("format", "pt"));
            }
        }
    }

    static void writeText(Path file, String text) {
        try {
            Files.createDirectories(file.getParent());
        } catch (IOException e) {
            throw new JDiffusionException("cannot create " + file.getParent() + ": " + e.getMessage(), e);
        }
        byte[] bytes = (text.endsWith("\n") ? text : text + "\n").getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, tmp -> Files.write(tmp, bytes));
    }
}
