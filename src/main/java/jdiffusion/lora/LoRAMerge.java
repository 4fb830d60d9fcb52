package jdiffusion.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.LoRAKeyMap.Target;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.WeightSource;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * LoRAs merged into a model's weights for the length of a try block: every touched weight becomes
 * {@code W + Σ scale_i · (alpha_i / r_i) · B_i @ A_i}, and {@link #close} copies the exact
 * originals back (bit for bit: they were saved, not recomputed by subtraction, which would leave
 * rounding residue behind after each request). Given the files the weights were loaded from
 * ({@link #apply(List, Map, Map)}), a weight still equal to its file's value is not copied: the
 * restore reads it back from the file. A merge {@linkplain #apply(List, Map, boolean) without
 * saved originals} is for good: nothing to copy back, and no copy held.
 *
 * <p>Only the touched weights are copied, so the cost is the size of the layers the LoRAs update
 * (about 200 MB for a LoRA on every attention layer of an SD 1.5 UNet in float32). The sum is formed
 * in float32 and added once, then rounded to the weight's dtype; a LoRA at scale 0 is skipped, so it
 * leaves the weights untouched.
 *
 * <p>Not thread-safe by itself: the weights are shared by every user of the model, so the caller
 * must keep other work off the model until {@link #close} (the pipeline does, with its lock).
 */
public final class LoRAMerge implements AutoCloseable {
    /** One LoRA with its two multipliers (A1111's te/unet split). */
    public record Applied(LoRAWeights weights, double unetScale, double textEncoderScale) {
        public Applied {
            if (!Double.isFinite(unetScale) || !Double.isFinite(textEncoderScale)) {
                throw new JDiffusionException("LoRA scales must be finite numbers, not " + unetScale + "/" + textEncoderScale);
            }
        }

        double scale(Component c) {
            return c == Component.UNET ? unetScale : textEncoderScale;
        }
    }

    /** The float32 rows formed at once per weight and thread (see mergeOne). */
    private static final long BLOCK_BYTES = 4L << 20;

    /**
     * A restore that could not put every weight back: the model holds neither its base weights nor
     * the LoRA set, and must be loaded again.
     */
    public static final class RestoreFailedException extends JDiffusionException {
        RestoreFailedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * A live weight and where what it held before the merge is: its saved copy ({@code original}), or
     * the tensor {@code name} of {@code component}'s file; weight and both null when merged for good.
     */
    private record Saved(Tensor weight, Tensor original, Component component, boolean inFile, String name) {}

    /** A source opened for the merge: its weights, and the files' state they were checked against. */
    private record Opened(StateDict weights, WeightSource.Stamp stamp) {}

    private final List<Saved> saved;
    private final boolean reversible;
    /** The weights' files, open until {@link #close} (restores read from them); owned. */
    private final Map<Component, Opened> base;
    private boolean closed;

    private LoRAMerge(List<Saved> saved, boolean reversible, Map<Component, Opened> base) {
        this.saved = saved;
        this.reversible = reversible;
        this.base = base;
    }

    /**
     * Merges {@code loras} into {@code weights} (component to the models' live parameters by
     * name, as {@link jdiffusion.tensor.ModuleTensors#namedTensors} gives them). On failure the
     * weights already changed are restored before the exception leaves.
     */
    public static LoRAMerge apply(List<Applied> loras, Map<Component, Map<String, Tensor>> weights) {
        return apply(loras, weights, true, Map.of());
    }

    /**
     * As {@link #apply(List, Map)}, with {@code sources} the files the weights were loaded from: a
     * weight whose live value is bit for bit its file's (converted as the loader converts it) is not
     * copied, {@link #close} reads it back from the file, so for LCM-LoRA on SD 1.5 no 1.7 GB of
     * copies are held while it is merged. A weight that differs from its file (changed since the
     * load), that the file lacks, or whose file cannot be opened or read now, is copied as usual.
     */
    public static LoRAMerge apply(List<Applied> loras, Map<Component, Map<String, Tensor>> weights,
                                  Map<Component, WeightSource> sources) {
        Map<Component, Opened> base = new EnumMap<>(Component.class);
        sources.forEach((component, source) -> {
            WeightSource.Stamp stamp = source.stamp(); // before the mapping: a change after it is seen at the restore
            try {
                base.put(component, new Opened(source.open(), stamp));
            } catch (RuntimeException e) {
                // moved, deleted or damaged since the load: this component's weights are copied instead
            }
        });
        return apply(loras, weights, true, base);
    }

    /**
     * As {@link #apply(List, Map)}; with {@code saveOriginals} false the merge is for good: no copy of
     * the touched weights is made (for LCM-LoRA on SD 1.5, 278 weights, 1.7 GB in bf16), {@link #close}
     * restores nothing, and a failure part way leaves the weights part merged (every target is checked
     * before the first weight changes, so only running out of memory gets there).
     */
    public static LoRAMerge apply(List<Applied> loras, Map<Component, Map<String, Tensor>> weights, boolean saveOriginals) {
        return apply(loras, weights, saveOriginals, Map.of());
    }

    private static LoRAMerge apply(List<Applied> loras, Map<Component, Map<String, Tensor>> weights, boolean saveOriginals,
                                   Map<Component, Opened> base) {
        List<Saved> saved = new ArrayList<>();
        try (NoGradGuard noGrad = new NoGradGuard()) {
            // 1. the updates of every touched weight, in LoRA order; every target checked before anything changes
            Map<Target, List<Map.Entry<LoRAWeights.Module, Double>>> updates = new LinkedHashMap<>();
            for (Applied a : loras) {
                for (LoRAWeights.Module m : a.weights().modules()) {
                    double scale = a.scale(m.target().component());
                    if (scale == 0) continue;
                    live(weights, m.target());
                    updates.computeIfAbsent(m.target(), t -> new ArrayList<>()).add(Map.entry(m, scale));
                }
            }
            // 2. one weight at a time per thread: where its original is recorded, then its summed update added in
            // place a block of rows at a time (the modules keep pointing at the same storage). A LoRA on every UNet
            // layer (LCM-LoRA: 278 weights) would otherwise hold a float32 copy of the whole UNet (3.4 GB). The
            // products B A are float32 matmuls on one OpenBLAS thread each (NativeThreads), so the weights are
            // shared out over one thread per compute thread instead of left to one core.
            List<Map.Entry<Target, List<Map.Entry<LoRAWeights.Module, Double>>>> work = new ArrayList<>(updates.entrySet());
            int threads = Math.max(1, Math.min(NativeThreads.computeThreads(), work.size()));
            AtomicInteger next = new AtomicInteger();
            Consumer<Saved> record = s -> {
                synchronized (saved) {
                    saved.add(s);
                }
            };
            Runnable worker = () -> {
                try (NoGradGuard workerNoGrad = new NoGradGuard()) { // grad mode is per thread
                    for (int i = next.getAndIncrement(); i < work.size(); i = next.getAndIncrement()) {
                        Target target = work.get(i).getKey();
                        Opened file = saveOriginals ? base.get(target.component()) : null;
                        mergeOne(weights, target, work.get(i).getValue(), saveOriginals, file == null ? null : file.weights(), record);
                    }
                }
            };
            if (threads == 1) {
                worker.run();
            } else {
                runOnThreads(worker, threads);
            }
        } catch (RuntimeException | Error e) {
            try {
                new LoRAMerge(saved, saveOriginals, base).close();
            } catch (RuntimeException restore) {
                restore.addSuppressed(e);
                throw restore;
            }
            throw e;
        }
        NativeMemory.trim(); // the blocks' float32 buffers, freed in every merge thread's arena
        return new LoRAMerge(saved, saveOriginals, base);
    }

    /**
     * W + Σ scale (alpha/r) B A for one weight, written in place. Where its original is (its file when
     * it still equals the file's tensor, else a copy; nothing when {@code save} is false) goes to
     * {@code record} before the first row changes, so a failure part way can be undone.
     */
    private static void mergeOne(Map<Component, Map<String, Tensor>> weights, Target target,
                                 List<Map.Entry<LoRAWeights.Module, Double>> updates, boolean save, StateDict file,
                                 Consumer<Saved> record) {
        try (PointerScope step = new PointerScope()) {
            // our own handles on the weight's storage, so the caller's map may be freed meanwhile
            Tensor w = live(weights, target).detach();
            long rows = w.size(0);
            // a block of output channels at a time: the float32 sum and the float32 weight rows of a block are
            // ~4 MB, where whole they are 118 MB each for a 1280x2560x3x3 conv (per merge thread)
            long block = Math.max(1, BLOCK_BYTES / (w.numel() / rows * Float.BYTES));
            if (save) {
                boolean inFile = sameAsFile(w, file, target.weight(), block);
                Tensor original = inFile ? null : w.clone();
                if (original != null) original.retainReference(); // outlives this scope; released by close()
                w.retainReference();
                record.accept(new Saved(w, original, target.component(), inFile, target.weight()));
            } else {
                record.accept(new Saved(null, null, target.component(), false, target.weight()));
            }
            List<LoRAWeights.Factors> factors = new ArrayList<>();
            for (Map.Entry<LoRAWeights.Module, Double> u : updates) factors.add(u.getKey().factors(w.device()));
            boolean float32 = w.scalar_type().value == ScalarType.Float.value;
            for (long first = 0; first < rows; first += block) {
                try (PointerScope blockScope = new PointerScope()) {
                    long count = Math.min(block, rows - first);
                    Tensor delta = null;
                    for (int i = 0; i < factors.size(); i++) {
                        Tensor d = factors.get(i).rows(updates.get(i).getValue(), first, count);
                        delta = delta == null ? d : delta.add_(d);
                    }
                    Tensor rowsOfW = w.narrow(0, first, count);
                    delta = delta.reshape(Tensors.shape(rowsOfW));
                    if (float32) {
                        rowsOfW.add_(delta);
                    } else {
                        rowsOfW.copy_(rowsOfW.to(ScalarType.Float).add_(delta)); // rounded once, as .to(dtype) rounds
                    }
                }
            }
        }
    }

    /**
     * Whether {@code w} holds bit for bit what loading {@code name} from {@code file} gives (the same
     * conversion: {@code copy_} into a tensor like {@code w}; bit patterns compared, so -0.0 is not 0.0
     * and a NaN matches itself), so that a restore can read it back; compared {@code block} rows at a
     * time. False when it cannot tell (no file, no such tensor, a read that fails).
     */
    private static boolean sameAsFile(Tensor w, StateDict file, String name, long block) {
        if (file == null || !file.contains(name) || !Arrays.equals(file.shape(name), Tensors.shape(w))) return false;
        ScalarType bits = switch ((int) w.element_size()) {
            case 2 -> ScalarType.Short;
            case 4 -> ScalarType.Int;
            case 8 -> ScalarType.Long;
            default -> null;
        };
        if (bits == null) return false;
        try (PointerScope scope = new PointerScope()) {
            Tensor stored = file.view(name);
            for (long first = 0; first < w.size(0); first += block) {
                try (PointerScope blockScope = new PointerScope()) {
                    long count = Math.min(block, w.size(0) - first);
                    Tensor rows = w.narrow(0, first, count);
                    Tensor loaded = torch.empty_like(rows);
                    loaded.copy_(stored.narrow(0, first, count));
                    if (!loaded.view(bits).equal(rows.view(bits))) return false;
                }
            }
            return true;
        } catch (RuntimeException e) {
            return false; // unreadable now: the weight is copied instead
        } finally {
            file.evict(name);
        }
    }

    /**
     * Runs {@code worker} on {@code threads} threads (the caller's among them), always waits for all of
     * them (none may go on writing weights after the merge has returned), and rethrows the first
     * failure, an {@link Error} such as running out of memory included.
     */
    private static void runOnThreads(Runnable worker, int threads) {
        List<Thread> others = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        Runnable guarded = () -> {
            try {
                worker.run();
            } catch (Throwable e) {
                synchronized (failures) {
                    failures.add(e);
                }
            }
        };
        try {
            for (int t = 1; t < threads; t++) others.add(Thread.ofPlatform().name("lora-merge-" + t).start(guarded));
            guarded.run();
        } finally {
            boolean interrupted = false;
            for (Thread thread : others) {
                while (true) {
                    try {
                        thread.join();
                        break;
                    } catch (InterruptedException e) {
                        interrupted = true; // the weights must not be left half-merged: wait on
                    }
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }
        if (!failures.isEmpty()) {
            Throwable first = failures.getFirst();
            if (first instanceof RuntimeException r) throw r;
            if (first instanceof Error e) throw e;
            throw new IllegalStateException(first);
        }
    }

    private static Tensor live(Map<Component, Map<String, Tensor>> weights, Target t) {
        Tensor w = weights.getOrDefault(t.component(), Map.of()).get(t.weight());
        if (w == null) throw new IllegalStateException("no " + t.component() + " weight " + t.weight());
        return w;
    }

    /** How many weights are changed. */
    public int size() {
        return saved.size();
    }

    /** How many of the changed weights are held as copies (the others are read back from their files, or merged for good). */
    public int copies() {
        return (int) saved.stream().filter(s -> s.original() != null).count();
    }

    /** Whether {@link #close} restores the originals (false: merged for good). */
    public boolean reversible() {
        return reversible;
    }

    /**
     * Puts the original weights back (nothing when merged for good): the copies, and the weights read
     * back from their files. Every weight is attempted; a file written over in place since the merge
     * checked it is not read (it holds other bytes now), and then, or when a read fails, a
     * {@link RestoreFailedException} is thrown after the rest are restored.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        RuntimeException failure = null;
        Map<Component, Path> rewritten = new EnumMap<>(Component.class);
        try (NoGradGuard noGrad = new NoGradGuard()) {
            base.forEach((c, o) -> {
                Path p = o.stamp().rewrittenInPlace();
                if (p != null) rewritten.put(c, p);
            });
            for (Saved s : reversible ? saved : List.<Saved>of()) {
                // the file's views are freed before the files close
                try (PointerScope scope = new PointerScope()) {
                    if (s.original() != null) {
                        s.weight().copy_(s.original());
                    } else if (rewritten.containsKey(s.component())) {
                        throw new JDiffusionException(rewritten.get(s.component()) + " was written over since it was loaded");
                    } else {
                        StateDict file = base.get(s.component()).weights();
                        s.weight().copy_(file.view(s.name()));
                        file.evict(s.name());
                    }
                } catch (RuntimeException e) {
                    if (failure == null) {
                        failure = new RestoreFailedException("could not restore " + s.component() + " weight " + s.name()
                                + " after a LoRA (" + e.getMessage() + "); load the model again", e);
                    }
                } finally {
                    if (s.original() != null) s.original().releaseReference();
                    s.weight().releaseReference();
                }
            }
        } finally {
            base.values().forEach(o -> o.weights().close());
        }
        if (failure != null) throw failure;
    }
}
