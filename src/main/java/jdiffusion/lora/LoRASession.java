package jdiffusion.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.function.Supplier;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.LoRAKeyMap;
import jdiffusion.weights.LoRAKeyMap.Component;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * LoRAs applied to one UNet and text encoder for the length of a piece of work, shared safely between
 * threads: the weights are shared, so work with LoRAs holds the write lock from the merge to the
 * restore ({@link LoRAMerge}), while work without LoRAs shares the read lock. Plain requests still run
 * in parallel and no request ever sees another's LoRAs; a request with LoRAs waits for the running ones
 * and runs alone. (Per-request adapters computed beside the weights, {@code x W^T + s (x A^T) B^T},
 * would let LoRA requests run concurrently at some cost per step; a possible later improvement.)
 *
 * <pre>{@code
 * LoRASession loras = new LoRASession(unet, textEncoder);
 * GenerationResult r = loras.run(List.of(LoRASpec.file(path, 0.8)), null, used -> sample(used));
 * }</pre>
 */
public final class LoRASession {
    /** A LoRA of one piece of work: what was asked and the A1111 short hash of the file it resolved to. */
    public record Used(LoRASpec spec, String hash) {}

    private final Module unet;
    private final Module textEncoder;
    /** Where LoRA entries may land: the models' weight names, shapes and their kohya spellings. */
    private final LoRAKeyMap.Index index;
    private final Map<Component, Map<String, long[]>> shapes;
    /** Read: work on the base weights. Write: work that merges LoRAs into them. Fair, so LoRA work is not starved. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock(true);

    public LoRASession(Module unet, Module textEncoder) {
        this.unet = unet;
        this.textEncoder = textEncoder;
        try (PointerScope scope = new PointerScope()) {
            Map<String, long[]> unetShapes = shapes(ModuleTensors.namedTensors(unet));
            Map<String, long[]> textShapes = shapes(ModuleTensors.namedTensors(textEncoder));
            this.shapes = Map.of(Component.UNET, unetShapes, Component.TEXT_ENCODER, textShapes);
            this.index = new LoRAKeyMap.Index(unetShapes.keySet(), textShapes.keySet());
        }
    }

    private static Map<String, long[]> shapes(Map<String, Tensor> tensors) {
        Map<String, long[]> out = new LinkedHashMap<>();
        tensors.forEach((k, v) -> out.put(k, Tensors.shape(v)));
        return Map.copyOf(out);
    }

    /**
     * Reads a LoRA file and checks it against the UNet and text encoder (every entry must name one
     * of their weights, with a fitting shape). The caller closes it.
     */
    public LoRAWeights read(Path file) {
        return LoRAWeights.read(file, index, shapes);
    }

    /**
     * Runs {@code work} with {@code specs} merged into the weights (named ones looked up in
     * {@code loraDir}), or, with no LoRAs, on the base weights under the shared lock. Every file is read
     * and checked before any lock is taken; the originals are restored bit for bit afterwards.
     */
    public <T> T run(List<LoRASpec> specs, Path loraDir, Function<List<Used>, T> work) {
        List<Active> loras = readAll(specs, loraDir);
        List<Used> used = loras.stream().map(l -> new Used(l.spec(), l.hash())).toList();
        try {
            if (loras.isEmpty()) return locked(lock.readLock(), () -> work.apply(used));
            return locked(lock.writeLock(), () -> {
                try (LoRAMerge merged = merge(loras)) {
                    return work.apply(used);
                }
            });
        } finally {
            loras.forEach(l -> l.weights().close());
        }
    }

    private record Active(LoRASpec spec, LoRAWeights weights, String hash) {}

    private List<Active> readAll(List<LoRASpec> specs, Path loraDir) {
        List<Active> out = new ArrayList<>();
        try {
            for (LoRASpec spec : specs) {
                Path file = spec.file() != null ? spec.file() : LoRAFiles.find(loraDir, spec.name());
                LoRAWeights weights = read(file);
                try {
                    out.add(new Active(spec, weights, LoRAFiles.shortHash(file)));
                } catch (RuntimeException e) {
                    weights.close();
                    throw e;
                }
            }
        } catch (RuntimeException e) {
            out.forEach(l -> l.weights().close());
            throw e;
        }
        return out;
    }

    private LoRAMerge merge(List<Active> loras) {
        List<LoRAMerge.Applied> applied = new ArrayList<>();
        for (Active l : loras) {
            applied.add(new LoRAMerge.Applied(l.weights(), l.spec().unetScale(), l.spec().textEncoderScale()));
        }
        // fresh handles on the live parameters, freed with this scope (the merge keeps its own)
        try (PointerScope scope = new PointerScope()) {
            return LoRAMerge.apply(applied, Map.of(Component.UNET, ModuleTensors.namedTensors(unet),
                    Component.TEXT_ENCODER, ModuleTensors.namedTensors(textEncoder)));
        }
    }

    private static <T> T locked(Lock lock, Supplier<T> work) {
        lock.lock();
        try {
            return work.get();
        } finally {
            lock.unlock();
        }
    }
}
