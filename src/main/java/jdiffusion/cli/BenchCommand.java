package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.io.AtomicFiles;
import jdiffusion.io.DType;
import jdiffusion.tools.bench.BenchReport;
import jdiffusion.tools.bench.BenchSuite;
import jdiffusion.tools.bench.FastPathBenchmark;
import jdiffusion.tools.bench.Comparison;
import jdiffusion.tools.bench.DepthEstimatorBench;
import org.bytedeco.pytorch.global.torch.ScalarType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion bench}: the CPU speed benchmark of issue 9. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time one text-to-image generation per dtype and size (Euler, CFG 7.5, batched UNet call) on a "
                + "random full-size SD 1.5 (fp16 weights on disk; created on first use): load, text encode, UNet step "
                + "(median), VAE decode, total, peak memory, FLOPs and GFLOP/s against a probed ceiling, and where "
                + "the time goes. Progress goes to stderr, the report to stdout.",
        footer = {"%nExamples:",
                "  jdiffusion bench                                  (256 and 512, fp32 and bf16: ~10 minutes)",
                "  jdiffusion bench --size 256 --dtype bf16 --steps 4",
                "  jdiffusion bench --size 512 --dtype bf16 --compare diffusers-bf16.json   (ours/theirs ratios)",
                "  jdiffusion bench --tiny --json                    (seconds; what the test suite runs)"})
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR",
            description = "A diffusers folder (default: a random SD 1.5 with fp16 weights in ~/.cache/jdiffusion).")
    Path model;

    @Option(names = "--size", split = ",", paramLabel = "PX", description = "Image sides (default: 256,512; --tiny: 64).")
    List<Integer> sizes;

    @Option(names = "--dtype", split = ",", paramLabel = "fp32|bf16",
            description = "Compute dtypes (default: fp32,bf16, or fp32 when the CPU has no native bf16).")
    List<String> dtypes;

    @Option(names = "--steps", defaultValue = "4",
            description = "Denoising steps per run, at least 3; the step time is the median of all but the first "
                    + "(default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--threads", description = "libtorch threads (default: the physical cores).")
    Integer threads;

    @Option(names = "--memory-steps", defaultValue = "0", paramLabel = "N",
            description = "Also run N steps in one generation and report resident memory after the first and the last.")
    int memorySteps;

    @Option(names = "--tiny", description = "A tiny random model and small probe shapes: seconds (for tests).")
    boolean tiny;

    @Option(names = "--fast-path", description = "Time the fast path instead (docs/speed.md): an LCM-LoRA-shaped random "
            + "LoRA, LCM 4 steps, guidance 1, VAE and TAESD decodes; the first request (with the merge) and a second with the "
            + "LoRA kept merged, load excluded.")
    boolean fastPath;

    @Option(names = "--depth-estimator", paramLabel = "DIR",
            description = "Time only a depth model's depth estimator (DPT): load and one estimate per --dtype and --size;"
                    + " DIR is a depth model folder (depth_estimator/, feature_extractor/) or a transformers DPT folder.")
    Path depthEstimator;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Option(names = "--save-json", paramLabel = "FILE", description = "Also write the JSON report to FILE.")
    Path saveJson;

    @Option(names = "--compare", paramLabel = "FILE.json",
            description = "Print ours/theirs ratios against another run's figures: {\"name\", \"cpu\", \"runs\": [{\"dtype\","
                    + " \"size\", \"unet_step_seconds\", \"vae_decode_seconds\", \"peak_rss_bytes\"}]} (e.g. diffusers on this"
                    + " machine), or a report saved with --save-json.")
    Path compare;

    @Option(names = "--one-run", hidden = true,
            description = "Internal: run one --dtype and --size with --model in this JVM and print its figures as JSON.")
    boolean oneRun;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (tiny && model != null) throw new JDiffusionException("--tiny makes its own model; leave out --model");
        if (steps < 3) throw new JDiffusionException("--steps " + steps + ": at least 3 (the step time is a median)");
        List<Integer> s = sizes != null ? sizes : tiny ? List.of(64) : List.of(256, 512);
        for (int size : s) {
            if (size < 64 || size % 64 != 0) {
                throw new JDiffusionException("--size " + size + ": use multiples of 64 (the UNet halves the latents three times)");
            }
        }
        List<ScalarType> types = new ArrayList<>();
        for (String d : dtypes != null ? dtypes : defaultDtypes()) {
            DType t = DType.parseFloat(d);
            if (t == DType.F16) throw new JDiffusionException("--dtype fp16 computes on CUDA only; on the CPU use fp32 or bf16");
            types.add(t.scalarType());
        }
        int threadCount = threads != null ? threads : BenchSuite.physicalCores();
        if (threadCount < 1) throw new JDiffusionException("--threads must be at least 1");
        if (depthEstimator != null) return depthEstimator(out, s, types, threadCount);
        if (fastPath) {
            var results = new BenchSuite(model, tiny, s, types, steps, threadCount, 0, null).runFastPath(err);
            // the class oneDNN computes in (ONEDNN_MAX_CPU_ISA can take AMX away), as the full report names it
            out.println("CPU: " + jdiffusion.diagnostics.SystemReport.cpuModel() + ", class: " + jdiffusion.tensor.CpuClass.current()
                    + ", " + threadCount + " threads");
            for (var r : results) out.println(r.line());
            out.flush();
            return results.stream().allMatch(FastPathBenchmark.Result::finite) ? 0 : 1;
        }
        if (oneRun) {
            if (model == null || types.size() != 1 || s.size() != 1) {
                throw new JDiffusionException("--one-run takes --model, one --dtype and one --size");
            }
            out.println(BenchSuite.runOne(model, types.getFirst(), s.getFirst(), steps, threadCount));
            out.flush();
            return 0;
        }
        Comparison theirs = compare == null ? null : Comparison.read(compare); // a bad file fails before the long runs
        BenchReport report = new BenchSuite(model, tiny, s, types, steps, threadCount, memorySteps, theirs).run(err);
        if (saveJson != null) {
            String text = report.toJson() + "\n";
            AtomicFiles.write(saveJson, tmp -> Files.writeString(tmp, text));
        }
        if (json) {
            out.println(report.toJson());
            out.flush();
        } else {
            report.printTable(out);
        }
        return report.runs().stream().allMatch(r -> r.finite()) ? 0 : 1;
    }

    /** {@code --depth-estimator}: one line (or JSON object) per dtype and size. */
    private int depthEstimator(PrintWriter out, List<Integer> sizes, List<ScalarType> types, int threadCount) {
        if (!java.nio.file.Files.isDirectory(depthEstimator)) {
            throw new JDiffusionException("--depth-estimator " + depthEstimator + ": no such folder");
        }
        jdiffusion.tensor.NativeThreads.setComputeThreads(threadCount);
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var array = mapper.createArrayNode();
        boolean finite = true;
        for (ScalarType type : types) {
            for (int size : sizes) {
                DepthEstimatorBench.Result r = DepthEstimatorBench.run(depthEstimator, type, size, Math.max(steps, 3));
                finite &= r.finite();
                if (json) {
                    array.add(mapper.valueToTree(r));
                } else {
                    out.printf(java.util.Locale.ROOT, "depth estimator %s, %dx%d image: load %.2f s, estimate %.3f s (depth %s), %s%n",
                            r.dtype(), size, size, r.loadSeconds(), r.estimateSeconds(),
                            jdiffusion.tensor.Tensors.shapeString(r.depthShape()), jdiffusion.diagnostics.SystemReport.cpuModel() + (jdiffusion.diagnostics.SystemReport.hasAmx() ? ", AMX" : ", no AMX"));
                }
            }
        }
        if (json) out.println(array);
        out.flush();
        return finite ? 0 : 1;
    }

    private static List<String> defaultDtypes() {
        return BenchSuite.cpuHasBf16() ? List.of("fp32", "bf16") : List.of("fp32");
    }
}
