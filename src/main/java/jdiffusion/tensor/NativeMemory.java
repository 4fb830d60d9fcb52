package jdiffusion.tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;
import org.bytedeco.pytorch.GradMode;
import org.bytedeco.pytorch.Tensor;

/**
 * Hands memory that libtorch has freed back to the OS. glibc's malloc keeps freed blocks in its
 * heaps for reuse, and a model load or a denoising loop frees gigabytes of short-lived tensors
 * (SD 1.5 in bf16: 0.85 GB kept after the load, 0.5 GB after a 512x512 UNet step); the next
 * phase's peak then stacks on top. {@code malloc_trim(0)} returns it: resident memory after a
 * bf16 load went from 3.3 to 2.4 GB. Elsewhere than glibc this does nothing.
 */
public final class NativeMemory {
    private static final Optional<MethodHandle> MALLOC_TRIM = Linker.nativeLinker().defaultLookup()
            .find("malloc_trim")
            .map(f -> Linker.nativeLinker().downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)));

    /** From this activation size on, a trim between a forward's blocks pays for itself (see below). */
    static final long BLOCK_TRIM_BYTES = 4L << 20;

    /** Bound (to true) for the extent of a {@link #trimmingBetweenBlocks} call. */
    private static final ScopedValue<Boolean> BLOCK_TRIMS = ScopedValue.newInstance();

    private NativeMemory() {}

    /**
     * Runs {@code work} (an inference forward) with {@link #trimBetweenBlocks} active on this thread:
     * for the VAE decode (once per image; per tile when tiled), whose stages at 512x512 each free
     * 64-128 MB tensors that glibc would keep. Measured (SD 1.5, bf16, 512x512, Xeon with AMX, 2
     * threads, {@code bench}, interleaved with the untrimmed build, docs/speed.md): the peak after the
     * decode 3.09-3.13 -> 3.05-3.07 GB, now the denoising loop's own (2.94-2.97 GB in runs whose UNet
     * was trimmed too); the decode's time within the runs' spread. Not for the UNet: trimmed between
     * blocks at every step its peak fell 0.15 GB, but each step then faulted the memory in again,
     * 14 % slower; trimmed in the first step only, nothing changed (later steps grow as high).
     */
    public static <T> T trimmingBetweenBlocks(java.util.function.Supplier<T> work) {
        return ScopedValue.where(BLOCK_TRIMS, Boolean.TRUE).call(work::get);
    }

    /**
     * Between two blocks of a forward: a trim when inside {@link #trimmingBetweenBlocks}, the
     * activation passed on is at least 4 MB (smaller forwards gain little and a trim costs
     * 0.1-1 ms) and no graph is being built; otherwise nothing.
     */
    public static void trimBetweenBlocks(Tensor activation) {
        if (BLOCK_TRIMS.isBound() && activation.nbytes() >= BLOCK_TRIM_BYTES && !GradMode.is_enabled()) trim();
    }

    /** Returns freed heap memory to the OS (a few milliseconds); call between phases, not per op. */
    public static void trim() {
        if (MALLOC_TRIM.isEmpty()) return;
        try {
            int ignored = (int) MALLOC_TRIM.get().invokeExact(0L);
        } catch (Throwable e) {
            // an optimisation only: keep going with the memory as it is
        }
    }
}
