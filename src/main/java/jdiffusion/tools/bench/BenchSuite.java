package jdiffusion.tools.bench;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import jdiffusion.pipelines.PipelineOptions;
import jdiffusion.pipelines.StableDiffusionPipeline;
import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.NativeThreads;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The whole {@code jdiffusion bench}: thread count, ceiling probe, one {@link Benchmark#run} per
 * dtype and size (full size: each in a JVM of its own, {@link IsolatedRun}, so that its time and
 * peak memory are its own), and the optional long-run memory check.
 *
 * @param model       a diffusers folder; null for the default random SD 1.5 (fp16 on disk), created on first use
 * @param tiny        a tiny random model in a temporary folder and small probe shapes: seconds
 * @param memorySteps steps of the long-run memory check (0: none)
 * @param compare     another implementation's figures to print ratios to, or null
 */
public record BenchSuite(Path model, boolean tiny, List<Integer> sizes, List<ScalarType> dtypes, int steps, int threads,
                         int memorySteps, Comparison compare) {

    /** The default model: {@code $XDG_CACHE_HOME/jdiffusion/random-sd15-fp16} (else ~/.cache/...). */
    public static Path defaultModel() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return cache.resolve("jdiffusion").resolve("random-sd15-fp16");
    }

    /** The default thread count: one per physical core. */
    public static int physicalCores() {
        return Cpu.physicalCores();
    }

    public static boolean cpuHasBf16() {
        return Cpu.hasBf16();
    }

    /**
     * {@code bench --fast-path}: {@link FastPathBenchmark} per dtype and size, in this JVM, on the tiny
     * model, the given one, or the default random SD 1.5 (created on first use); progress to {@code log}.
     */
    public List<FastPathBenchmark.Result> runFastPath(PrintWriter log) {
        NativeThreads.setComputeThreads(threads);
        Path temporary = null;
        try {
            temporary = Files.createTempDirectory("jdiffusion-fast-");
            Path folder = modelFolder(temporary, log);
            List<FastPathBenchmark.Result> out = new ArrayList<>();
            for (ScalarType dtype : dtypes) {
                for (int size : sizes) {
                    log.printf("Fast path %s at %dx%d, %d threads...%n", Benchmark.dtypeName(dtype), size, size, threads);
                    log.flush();
                    out.add(FastPathBenchmark.run(folder, dtype, size, temporary));
                }
            }
            return out;
        } catch (java.io.IOException e) {
            throw new jdiffusion.JDiffusionException("cannot create a temporary folder: " + e.getMessage());
        } finally {
            if (temporary != null) deleteQuietly(temporary);
        }
    }

    /**
     * The model to time: a tiny random one written into {@code temporary} (--tiny), the given one, or the
     * default random SD 1.5, created on first use.
     */
    private Path modelFolder(Path temporary, PrintWriter log) {
        if (tiny) {
            Path folder = temporary.resolve("tiny");
            RandomPipelineFolder.create(RandomModel.TINY, folder, ScalarType.Half, 0, null, line -> {});
            return folder;
        }
        if (model != null) return model;
        Path folder = defaultModel();
        if (!Files.isDirectory(folder)) {
            log.println("Creating the benchmark model (random SD 1.5, fp16 on disk) in " + folder + " ...");
            log.flush();
            RandomPipelineFolder.create(RandomModel.SD15, folder, ScalarType.Half, 0, null, line -> {
                log.println("  " + line);
                log.flush();
            });
        }
        return folder;
    }

    private static void deleteQuietly(Path dir) {
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (java.io.IOException ignored) {
            // a temporary folder left behind is harmless
        }
    }

    /** {@code bench --one-run}: one configuration in this JVM, its figures as JSON (for {@link IsolatedRun}). */
    public static String runOne(Path model, ScalarType dtype, int size, int steps, int threads) {
        NativeThreads.setComputeThreads(threads);
        return ReportJson.write(Benchmark.run(model.toString(), dtype, size, steps), "a bench run");
    }

    /** Runs everything; progress lines go to {@code log}. */
    public BenchReport run(PrintWriter log) {
        NativeThreads.setComputeThreads(threads);
        double[] load0 = Cpu.loadAverage();
        boolean bf16 = Cpu.hasBf16();
        log.printf("Ceiling probe (%s)...%n", tiny ? "tiny shapes" : "2048 matmul, 3x3 conv 320 channels at 64x64");
        log.flush();
        CeilingProbe ceiling = CeilingProbe.measure(bf16, tiny);
        Path temporary = null;
        try {
            if (tiny) temporary = Files.createTempDirectory("jdiffusion-bench-");
            Path folder = modelFolder(temporary, log);
            List<BenchRun> runs = new ArrayList<>();
            for (ScalarType dtype : dtypes) {
                for (int size : sizes) {
                    log.printf("Running %s at %dx%d, %d steps, %d threads...%n", Benchmark.dtypeName(dtype), size, size,
                            steps, threads);
                    log.flush();
                    // tiny: in this JVM (the test suite runs it, seconds); full size: each in a JVM of its own
                    BenchRun r = tiny ? Benchmark.run(folder.toString(), dtype, size, steps)
                            : IsolatedRun.run(folder, Benchmark.dtypeName(dtype), size, steps, threads, log);
                    log.printf("  UNet step %.2f s, VAE decode %.2f s, peak RSS %.2f GB%n", r.unetStepSeconds(),
                            r.vaeDecodeSeconds(), r.peakRssBytes() / 1e9);
                    log.flush();
                    runs.add(r);
                }
            }
            BenchReport.MemoryCheck memory = null;
            if (memorySteps > 0) {
                int size = sizes.getFirst();
                ScalarType dtype = dtypes.getLast();
                log.printf("Memory check: %d steps at %dx%d in %s...%n", memorySteps, size, size, Benchmark.dtypeName(dtype));
                log.flush();
                try (StableDiffusionPipeline pipe = StableDiffusionPipeline.load(folder.toString(),
                        new PipelineOptions(dtype, Tensors.CPU, null))) {
                    long[] rss = Benchmark.memoryOverSteps(pipe, size, memorySteps);
                    memory = new BenchReport.MemoryCheck(memorySteps, size, Benchmark.dtypeName(dtype), rss[0], rss[1],
                            rss[2], rss[3]);
                }
            }
            return new BenchReport(tiny ? "tiny random model (SD 1.5 structure)" : folder.toString(), Cpu.modelName(),
                    CpuClass.current().toString(), torch.get_num_threads(), Cpu.physicalCores(), bf16, load0, Cpu.loadAverage(),
                    ceiling, runs, memory, compare, compare == null ? List.of() : compare.ratios(runs));
        } catch (IOException e) {
            throw new JDiffusionException("cannot create a temporary folder for the tiny model: " + e.getMessage(), e);
        } finally {
            if (temporary != null) deleteRecursively(temporary);
        }
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> all = Files.walk(dir)) {
            all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a leftover temporary folder is harmless
        }
    }
}
