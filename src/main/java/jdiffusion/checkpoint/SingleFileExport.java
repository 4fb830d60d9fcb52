package jdiffusion.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DType;
import jdiffusion.io.ModelFolder;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.weights.KeyMap;
import jdiffusion.weights.LdmKeyMap;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * A diffusers Stable Diffusion folder as one LDM-layout safetensors file, the file
 * diffusers' {@code scripts/convert_diffusers_to_original_stable_diffusion.py} writes (as
 * safetensors rather than a pickle) and AUTOMATIC1111/ComfyUI load. The input is a pipeline folder
 * (model_index.json: unet, vae, text_encoder) or a lone UNet folder.
 *
 * <p>The file's metadata also records the diffusers configs it came from
 * ({@link SingleFileCheckpoint#METADATA_UNET}, ...): the weights cannot say how many attention heads
 * there are or whether the model predicts v, and with these a round trip gives back the same
 * folder. Other tools ignore them.
 */
public final class SingleFileExport {
    private SingleFileExport() {}

    /** What was written: tensors per component, in file order. */
    public record Result(Path file, Map<String, Integer> tensorsPerComponent, boolean openClip) {}

    /**
     * Converts {@code input} (a diffusers pipeline or UNet folder) to {@code output}, storing
     * floating-point tensors as {@code dtype} (null keeps each tensor's own). Written through a
     * temporary file, so {@code output} is complete or absent.
     */
    public static Result write(Path input, Path output, DType dtype) {
        Map<String, Path> folders = components(input);
        List<StateDict> open = new ArrayList<>();
        Map<String, Integer> counts = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        boolean openClip = false;
        try (PointerScope scope = new PointerScope()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, Path> c : folders.entrySet()) {
                Path dir = c.getValue();
                JsonNode config = ModelFolder.readJson(dir.resolve("config.json"));
                StateDict weights;
                LdmKeyMap.Table table;
                String prefix;
                switch (c.getKey()) {
                    case "unet" -> {
                        weights = open(dir, KeyMap.identity(), open);
                        table = LdmKeyMap.unet(LdmKeyMap.UNetLayout.fromDiffusers(weights.keys()));
                        prefix = LdmKeyMap.UNET_PREFIX;
                        metadata.put(SingleFileCheckpoint.METADATA_UNET, config.toString());
                    }
                    case "vae" -> {
                        weights = open(dir, KeyMap.diffusersLegacyAttention(), open);
                        table = LdmKeyMap.vae(LdmKeyMap.VAELayout.fromDiffusers(weights.keys()));
                        prefix = LdmKeyMap.VAE_PREFIX;
                        metadata.put(SingleFileCheckpoint.METADATA_VAE, config.toString());
                    }
                    case "text_encoder" -> {
                        weights = open(dir, KeyMap.clipText(), open);
                        // OpenCLIP ViT-H (SD 2.x) is the GELU one; OpenAI's CLIP ViT-L (SD 1.x) uses quick_gelu.
                        openClip = "gelu".equals(config.path("hidden_act").asText());
                        table = openClip ? LdmKeyMap.openClip(LdmKeyMap.countIndexed(weights.keys(), "text_model.encoder.layers."))
                                : LdmKeyMap.clip();
                        prefix = openClip ? LdmKeyMap.OPEN_CLIP_PREFIX : LdmKeyMap.CLIP_PREFIX;
                        metadata.put(SingleFileCheckpoint.METADATA_TEXT_ENCODER, config.toString());
                    }
                    default -> throw new IllegalStateException(c.getKey());
                }
                LdmKeyMap.Plan plan = table.toLdm(weights.keys(), prefix);
                if (!plan.unmapped().isEmpty()) {
                    throw new JDiffusionException(weights.description() + ": " + plan.unmapped().size()
                            + " tensors have no place in the LDM layout: " + String.join(", ",
                            plan.unmapped().subList(0, Math.min(10, plan.unmapped().size())))
                            + "; only SD 1.x/2.x components convert");
                }
                StateDict ldm = weights.derive(plan.targets(), weights.description() + " (LDM names)");
                for (String key : ldm.keys()) tensors.put(key, convert(ldm.view(key), dtype));
                counts.put(c.getKey(), ldm.keys().size());
            }
            Path scheduler = input.resolve("scheduler").resolve("scheduler_config.json");
            if (folders.size() > 1 && Files.isRegularFile(scheduler)) {
                metadata.put(SingleFileCheckpoint.METADATA_SCHEDULER, ModelFolder.readJson(scheduler).toString());
            }
            SafetensorsWriter.write(output, tensors, metadata);
        } finally {
            open.forEach(StateDict::close);
        }
        return new Result(output, counts, openClip);
    }

    /** The component folders to convert, by diffusers component name. */
    private static Map<String, Path> components(Path input) {
        Map<String, Path> out = new LinkedHashMap<>();
        if (Files.isRegularFile(input.resolve("model_index.json"))) {
            ModelFolder model = ModelFolder.open(input);
            for (String name : List.of("unet", "vae", "text_encoder")) {
                if (model.components().containsKey(name)) out.put(name, model.component(name));
            }
            if (!out.containsKey("unet")) throw new JDiffusionException(input + ": model_index.json lists no unet to convert");
            return out;
        }
        Path config = input.resolve("config.json");
        if (Files.isRegularFile(config)
                && "UNet2DConditionModel".equals(ModelFolder.readJson(config).path("_class_name").asText())) {
            out.put("unet", input);
            return out;
        }
        throw new JDiffusionException(input + " is neither a diffusers pipeline folder (model_index.json) nor a "
                + "UNet2DConditionModel folder (config.json); nothing to convert");
    }

    private static StateDict open(Path dir, java.util.function.UnaryOperator<String> keyMap, List<StateDict> open) {
        StateDict s = StateDict.open(ModelFolder.weightFiles(dir, null), keyMap);
        open.add(s);
        return s;
    }

    /** Floating tensors to {@code dtype} (integer buffers keep theirs); the view itself when nothing changes. */
    static Tensor convert(Tensor t, DType dtype) {
        if (dtype == null) return t;
        DType own = DType.of(t.scalar_type());
        boolean floating = own == DType.F32 || own == DType.F16 || own == DType.BF16 || own == DType.F64;
        return floating && own != dtype ? t.to(dtype.scalarType()) : t;
    }
}
