package jdiffusion.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DType;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.io.TorchCheckpoint;
import jdiffusion.weights.StateDict;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;

/**
 * A diffusers folder whose weights are pickles ({@code diffusion_pytorch_model.bin},
 * {@code pytorch_model.bin}) copied to a new folder with the weights as safetensors, read through
 * the restricted unpickler (no code runs). Names follow save_pretrained: {@code pytorch_model*.bin}
 * becomes {@code model*.safetensors}, {@code diffusion_pytorch_model*.bin} keeps its stem. Every
 * other file is copied as it is.
 */
public final class PickleFolderExport {
    private static final List<String> PICKLE_SUFFIXES = List.of(".bin", ".ckpt", ".pt", ".pth");

    private PickleFolderExport() {}

    public record Result(Path folder, List<String> converted, int copied) {}

    public static Result write(Path input, Path out, DType dtype) {
        if (Files.exists(out)) throw new JDiffusionException(out + " already exists; choose a new folder (nothing is overwritten)");
        List<Path> files;
        try (Stream<Path> walk = Files.walk(input)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            throw new JDiffusionException("cannot list " + input + ": " + e.getMessage(), e);
        }
        for (Path f : files) {
            if (f.getFileName().toString().endsWith(".bin.index.json")) {
                throw new JDiffusionException(f + ": sharded pickle weights are not converted; convert them with the tool that made them");
            }
        }
        if (files.stream().noneMatch(PickleFolderExport::isPickle)) {
            throw new JDiffusionException(input + " holds no pickle weights (.bin, .ckpt, .pt, .pth) to convert");
        }
        List<String> converted = new ArrayList<>();
        int[] copied = {0};
        Path folder = OutputFolder.write(out, tmp -> {
            for (Path f : files) {
                Path relative = input.relativize(f);
                Path dest = tmp.resolve(relative);
                Files.createDirectories(dest.getParent());
                if (!isPickle(f)) {
                    Files.copy(f, dest);
                    copied[0]++;
                    continue;
                }
                Path st = dest.resolveSibling(safetensorsName(f.getFileName().toString()));
                try (TorchCheckpoint ckpt = TorchCheckpoint.open(f); PointerScope scope = new PointerScope()) {
                    StateDict weights = StateDict.of(ckpt.tensors(), null, f.toString());
                    Map<String, Tensor> tensors = new LinkedHashMap<>();
                    for (String key : weights.keys()) tensors.put(key, SingleFileExport.convert(weights.view(key), dtype));
                    SafetensorsWriter.write(st, tensors, Map.of("format", "pt"));
                }
                converted.add(relative + " -> " + tmp.relativize(st));
            }
        });
        return new Result(folder, converted, copied[0]);
    }

    private static boolean isPickle(Path f) {
        String n = f.getFileName().toString();
        return PICKLE_SUFFIXES.stream().anyMatch(n::endsWith);
    }

    /** save_pretrained's safetensors name for a pickle weights file. */
    static String safetensorsName(String pickle) {
        String stem = pickle.substring(0, pickle.lastIndexOf('.'));
        if (stem.startsWith("pytorch_model")) stem = "model" + stem.substring("pytorch_model".length());
        return stem + ".safetensors";
    }
}
