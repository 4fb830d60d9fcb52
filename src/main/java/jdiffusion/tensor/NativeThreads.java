package jdiffusion.tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.bytedeco.openblas.global.openblas_nolapack;
import org.bytedeco.pytorch.global.torch;

/**
 * The native thread pools jdiffusion computes with. libtorch parallelises with OpenMP and, in
 * fp32, calls OpenBLAS from inside its parallel loops (the CPU flash attention calls a small
 * GEMM per block from every OpenMP thread). OpenBLAS's own pthread pool then puts two threads on
 * each core and funnels the concurrent calls through its single job queue: an SD 1.5 UNet step at
 * 256x256 took 34 s instead of 4.4 s, attention alone 20 s instead of 0.4 s. With one OpenBLAS
 * thread the OpenMP threads do all the parallel work; a lone large fp32 matmul then runs on one
 * core, which costs less than the contention did. bf16 never goes through OpenBLAS (oneDNN).
 */
public final class NativeThreads {
    private NativeThreads() {}

    /**
     * The process-wide thread settings inference wants, made once: OpenBLAS single-threaded (see
     * above) and, unless {@code OMP_NUM_THREADS} is set (the user's choice wins), one libtorch thread
     * per physical core (libtorch starts one per logical CPU; hyperthread pairs only compete for one
     * core's vector units). Idempotent: only the first call changes anything, so an explicit
     * {@link #setComputeThreads} after it stands. The CLI calls it at start and
     * {@code StableDiffusionPipeline.load} before loading; a library user who builds models directly
     * calls it once. Model loading itself changes no process-wide setting.
     */
    public static void configureForInference() {
        synchronized (NativeThreads.class) {
            if (configured) return;
            configured = true;
        }
        singleThreadedBlas();
        if (System.getenv("OMP_NUM_THREADS") == null) setComputeThreads(physicalCores());
    }

    // mirrors the native pools' process-wide state: set once by configureForInference
    private static boolean configured;

    /** OpenBLAS to one thread. Idempotent; call before the first fp32 forward. */
    public static void singleThreadedBlas() {
        setBlasThreads(1);
    }

    /** OpenBLAS's own pool; more than one only for a lone matmul (the benchmark's ceiling probe). */
    public static void setBlasThreads(int threads) {
        openblas_nolapack.blas_set_num_threads(threads);
    }

    /** libtorch's intra-op (OpenMP) threads: one per physical core is best for these compute-bound models. */
    public static void setComputeThreads(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, not " + threads);
        torch.set_num_threads(threads);
    }

    public static int computeThreads() {
        return torch.get_num_threads();
    }

    /**
     * Physical cores among the CPUs this process may use (Linux topology; the logical count
     * elsewhere): hyperthread siblings share one core's vector units, so a second thread per
     * core only competes for them.
     */
    public static int physicalCores() {
        int logical = Runtime.getRuntime().availableProcessors();
        Set<String> cores = new HashSet<>();
        for (int cpu = 0; cpu < 4096; cpu++) {
            Path dir = Path.of("/sys/devices/system/cpu/cpu" + cpu);
            if (!Files.isDirectory(dir)) break;
            try {
                List<String> siblings = Files.readAllLines(dir.resolve("topology/thread_siblings_list"));
                if (!siblings.isEmpty()) cores.add(siblings.getFirst().trim());
            } catch (IOException e) {
                // an offline CPU has no topology: skip it
            }
        }
        return cores.isEmpty() ? logical : Math.min(cores.size(), logical);
    }
}
