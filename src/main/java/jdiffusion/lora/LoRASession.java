package jdiffusion.lora;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.LoRAKeyMap;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.WeightSource;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.Tensor;

/**
 * LoRAs applied to one UNet and text encoder for the length of a piece of work, shared safely between
 * threads: the weights are shared, so changing them (merge, restore: {@link LoRAMerge}) takes the write
 * lock, and work runs under the read lock once the weights hold exactly its LoRA set. Plain requests
 * still run in parallel and no request ever sees another's LoRAs; a request with other LoRAs waits for
 * the running ones. By default a set is restored right after its work (which then runs alone);
 * {@link #keepMerged} keeps it for the next request that asks for the same set, and
 * {@link #keepOriginals keepOriginals(false)} merges it for good (no saved copy, no other set afterwards). (Per-request adapters
 * computed beside the weights, {@code x W^T + s (x A^T) B^T}, would let LoRA requests run concurrently
 * at some cost per step; a possible later improvement.)
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
    /** Read: work on the weights as they are. Write: changing them (merge, restore). Fair, so LoRA work is not starved. */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock(true);
    // guarded by lock: written under the write lock, read under either
    private boolean keepMerged;
    private boolean keepOriginals = true;
    /** The models' weight files, where restores read the originals from (see {@link #restoreFrom}). */
    private Map<Component, WeightSource> sources = Map.of();
    /** A merge for good failed part way: the weights are neither the base nor any set. */
    private boolean broken;
    private LoRAMerge merged;
    private List<MergedKey> mergedKey = List.of();
    /**
     * Short hashes by file, reused while its size and modification time stay (A1111 caches its hashes
     * the same way): with a kept set, every request would otherwise re-read the whole file to learn
     * it is the same set (134 MB of SHA-256 for LCM-LoRA, ~0.4 s).
     */
    private final Map<Path, HashedFile> hashes = new ConcurrentHashMap<>();

    private record HashedFile(long size, FileTime modified, String hash) {}

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
     * and checked before any lock is taken; the originals are restored bit for bit afterwards (unless kept
     * merged, or merged for good).
     */
    public <T> T run(List<LoRASpec> specs, Path loraDir, Function<List<Used>, T> work) {
        List<Active> loras = readAll(specs, loraDir);
        List<Used> used = loras.stream().map(l -> new Used(l.spec(), l.hash())).toList();
        List<MergedKey> key = loras.stream().map(MergedKey::of).toList();
        try {
            if (lock.isWriteLockedByCurrentThread() || lock.getReadHoldCount() > 0) return nested(loras, key, used, work);
            lock.readLock().lock();
            try {
                checkUsable(key);
                if (key.equals(mergedKey)) {
                    release(loras);
                    return work.apply(used);
                }
            } finally {
                lock.readLock().unlock();
            }
            lock.writeLock().lock();
            boolean downgraded = false;
            try {
                checkUsable(key);
                if (!key.equals(mergedKey)) {
                    restoreLocked();
                    if (!loras.isEmpty()) {
                        merged = merge(loras, keepOriginals);
                        mergedKey = key;
                    }
                }
                release(loras);
                if (keepMerged || loras.isEmpty() || !merged.reversible()) {
                    // later work on the same weights (this set, or none) may run beside this one
                    lock.readLock().lock();
                    lock.writeLock().unlock();
                    downgraded = true;
                    return work.apply(used);
                }
                try {
                    return work.apply(used);
                } finally {
                    restoreLocked();
                }
            } finally {
                if (downgraded) lock.readLock().unlock();
                else lock.writeLock().unlock();
            }
        } finally {
            loras.forEach(l -> l.weights().close()); // closed already unless something failed first
        }
    }

    /**
     * Settings and restores change the weights under the work's feet (or, from work that holds only the
     * read lock, would wait for the write lock for ever): refused from inside {@link #run}'s work.
     */
    private void refuseInsideWork(String what) {
        if (lock.isWriteLockedByCurrentThread() || lock.getReadHoldCount() > 0) {
            throw new JDiffusionException(what + " cannot be called from inside work running on the LoRA session's weights");
        }
    }

    /**
     * Work inside this thread's own running work (a {@code generate} inside {@code withLoRAs}): its LoRAs
     * go on top of the weights as they are and come off afterwards, back to the outer set (sets stack:
     * only a request for exactly the set the weights hold now, or none, adds nothing). Only outer work
     * that holds the weights alone (the write lock) can take more: work that runs beside other work (a
     * kept set, a set merged for good, no LoRAs) cannot wait for the others to finish, as it is one of
     * them, so it is refused.
     */
    private <T> T nested(List<Active> loras, List<MergedKey> key, List<Used> used, Function<List<Used>, T> work) {
        if (broken) throw new JDiffusionException("a LoRA merge failed part way; load the model again");
        if (loras.isEmpty() || key.equals(mergedKey)) {
            release(loras);
            return work.apply(used);
        }
        checkUsable(key);
        if (!lock.isWriteLockedByCurrentThread()) {
            throw new JDiffusionException("the LoRAs " + hashesOf(key) + " cannot be merged inside work that runs beside other "
                    + "work on " + (mergedKey.isEmpty() ? "the base weights" : "the LoRAs " + hashesOf(mergedKey))
                    + "; pass them to the outer call");
        }
        List<MergedKey> outerKey = mergedKey;
        LoRAMerge inner = merge(loras, true); // always undone: the outer work continues on its own set
        release(loras);
        List<MergedKey> both = new ArrayList<>(outerKey);
        both.addAll(key);
        mergedKey = List.copyOf(both);
        T result;
        try {
            result = work.apply(used);
        } catch (RuntimeException | Error e) {
            mergedKey = outerKey;
            try {
                inner.close();
            } catch (RuntimeException restore) {
                broken = true;
                e.addSuppressed(restore); // the work's own failure is the one to report
            }
            throw e;
        }
        mergedKey = outerKey;
        try {
            inner.close();
        } catch (RuntimeException e) {
            broken = true;
            throw e;
        }
        return result;
    }

    /**
     * Frees the LoRA factors once merged (or found merged already): the work does not need them, and
     * LCM-LoRA's are 134 MB that would otherwise stay resident through the request.
     */
    private static void release(List<Active> loras) {
        if (loras.isEmpty()) return;
        loras.forEach(l -> l.weights().close());
        NativeMemory.trim();
    }

    /**
     * Whether a merged LoRA set stays in the weights after its work, until work asks for another set or
     * none (A1111 keeps its merged networks the same way). Consecutive requests with the same LoRAs (same
     * files by content hash, same scales) then skip the merge and the restore: for LCM-LoRA on SD 1.5, 278
     * weight products per request. The price: the originals of the touched weights stay saved (for
     * LCM-LoRA 1.7 GB in bf16), and code that reads the weights outside {@link #run} sees the merged ones
     * until {@link #restoreBase}. Off by default; the server turns it on.
     */
    public void keepMerged(boolean keep) {
        refuseInsideWork("keepMerged");
        lock.writeLock().lock();
        try {
            keepMerged = keep;
            if (!keep) restoreLocked();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Whether a merge saves the originals of the weights it changes, so that they can be restored
     * (the default). A process that runs one LoRA set and ends (the CLI) turns it off: a merge then
     * copies nothing (for LCM-LoRA on SD 1.5, 1.7 GB less in bf16), the set stays merged, and work
     * that asks for another set (or none) afterwards fails in one line.
     */
    public void keepOriginals(boolean keep) {
        refuseInsideWork("keepOriginals");
        lock.writeLock().lock();
        try {
            keepOriginals = keep;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Where the UNet's and the text encoder's weights can be read again as they were loaded (either
     * may be null: its weights are then copied). A reversible merge then keeps no copy of a weight
     * that still holds its file's value: the restore reads it back from the file (for LCM-LoRA on
     * SD 1.5, 1.7 GB less held in bf16, for reading and comparing the 278 weights once per merge and
     * reading them once per restore). A weight changed since the load, or a file that can no longer
     * be opened, falls back to the copy; a file written over in place while a set is merged makes
     * the restore fail (the session is then unusable: load the model again). The loaders of a model
     * folder or single file set this.
     */
    public void restoreFrom(WeightSource unetWeights, WeightSource textEncoderWeights) {
        Map<Component, WeightSource> m = new EnumMap<>(Component.class);
        if (unetWeights != null) m.put(Component.UNET, unetWeights);
        if (textEncoderWeights != null) m.put(Component.TEXT_ENCODER, textEncoderWeights);
        refuseInsideWork("restoreFrom");
        lock.writeLock().lock();
        try {
            sources = Map.copyOf(m);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Copies back the base weights if a kept LoRA set is merged (not one merged for good); waits for running work. */
    public void restoreBase() {
        refuseInsideWork("restoreBase");
        lock.writeLock().lock();
        try {
            restoreLocked();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** The LoRAs merged now (empty: the base weights), as their short hashes; for tests and logs. */
    public List<String> mergedHashes() {
        lock.readLock().lock();
        try {
            return mergedKey.stream().map(MergedKey::hash).toList();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** How many weights of the merged set are held as copies (the rest read back from the files); for tests and logs. */
    public int mergedCopies() {
        lock.readLock().lock();
        try {
            return merged == null ? 0 : merged.copies();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Under either lock: fails in one line when the weights cannot be brought to {@code key}. */
    private void checkUsable(List<MergedKey> key) {
        if (broken) throw new JDiffusionException("a LoRA merge failed part way; load the model again");
        if (merged != null && !merged.reversible() && !key.equals(mergedKey)) {
            throw new JDiffusionException("the weights hold the LoRAs " + hashesOf(mergedKey)
                    + " merged for good (originals not kept), so they cannot run with "
                    + (key.isEmpty() ? "none" : hashesOf(key)) + "; load the model again");
        }
    }

    private void restoreLocked() {
        if (merged != null && !merged.reversible()) return; // nothing saved to go back to
        LoRAMerge m = merged;
        merged = null;
        mergedKey = List.of();
        if (m == null) return;
        try {
            m.close();
        } catch (RuntimeException e) {
            broken = true; // some weight could not be read back: neither the base nor the set
            throw e;
        }
    }

    private static List<String> hashesOf(List<MergedKey> key) {
        return key.stream().map(MergedKey::hash).toList();
    }

    /** What makes two merges identical: the file's content (A1111 short hash of its tensors) and both scales. */
    private record MergedKey(String hash, double unetScale, double textEncoderScale) {
        static MergedKey of(Active a) {
            return new MergedKey(a.hash(), a.spec().unetScale(), a.spec().textEncoderScale());
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
                    out.add(new Active(spec, weights, shortHash(file)));
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

    private String shortHash(Path file) {
        BasicFileAttributes now;
        Path key;
        try {
            key = file.toRealPath();
            now = Files.readAttributes(key, BasicFileAttributes.class);
        } catch (IOException e) {
            return LoRAFiles.shortHash(file); // its one-line error names the file
        }
        HashedFile known = hashes.get(key);
        if (known != null && known.size() == now.size() && known.modified().equals(now.lastModifiedTime())) {
            return known.hash();
        }
        String hash = LoRAFiles.shortHash(key);
        hashes.put(key, new HashedFile(now.size(), now.lastModifiedTime(), hash));
        return hash;
    }

    private LoRAMerge merge(List<Active> loras, boolean saveOriginals) {
        List<LoRAMerge.Applied> applied = new ArrayList<>();
        for (Active l : loras) {
            applied.add(new LoRAMerge.Applied(l.weights(), l.spec().unetScale(), l.spec().textEncoderScale()));
        }
        // fresh handles on the live parameters, freed with this scope (the merge keeps its own)
        try (PointerScope scope = new PointerScope()) {
            Map<Component, Map<String, Tensor>> live = Map.of(Component.UNET, ModuleTensors.namedTensors(unet),
                    Component.TEXT_ENCODER, ModuleTensors.namedTensors(textEncoder));
            return saveOriginals ? LoRAMerge.apply(applied, live, sources) : LoRAMerge.apply(applied, live, false);
        } catch (RuntimeException | Error e) {
            // the weights changed so far stay changed: merged for good, or a restore after the failure failed too;
            // after an Error (out of memory) nothing is trusted
            if (!saveOriginals || e instanceof LoRAMerge.RestoreFailedException || e instanceof Error) broken = true;
            throw e;
        }
    }
}
