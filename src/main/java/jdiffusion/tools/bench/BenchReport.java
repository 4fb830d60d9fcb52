package jdiffusion.tools.bench;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/**
 * Everything one {@code jdiffusion bench} measured, printed as a table or as JSON (snake_case
 * keys of these records).
 *
 * @param loadAverage   1/5/15-minute load averages at the start and at the end: other work on the
 *                      machine slows every figure
 * @param memorySteps   the long-run check: steps, size and resident bytes after the first and last
 *                      step; null when not asked for
 * @param cpuClass      {@link jdiffusion.tensor.CpuClass}: AMX, AVX-512 BF16 without AMX, or no native bf16
 * @param compare       the figures of {@code --compare FILE.json}, or null; {@code compareRatios} ours / theirs
 */
public record BenchReport(String model, String cpu, String cpuClass, int threads, int physicalCores, boolean cpuHasBf16,
                          double[] loadAverage, double[] loadAverageAtEnd, CeilingProbe ceiling, List<BenchRun> runs,
                          MemoryCheck memorySteps, Comparison compare, List<Comparison.Ratio> compareRatios) {

    /** Resident memory over a long run of denoising steps in one process. */
    public record MemoryCheck(int steps, int size, String dtype, long rssAfterFirstStep, long rssAfterLastStep,
                              long javaHeapAfterFirstStep, long javaHeapAfterLastStep) {}

    public String toJson() {
        return ReportJson.write(this, "the bench report");
    }

    /**
     * The fraction of the reachable peak a forward gets: its time at the probed ceilings
     * (convolutions at the conv ceiling, linears and attention at the matmul ceiling, in the run's
     * dtype) over its measured time.
     */
    public double fractionOfCeiling(FlopCount flops, double seconds, String dtype) {
        boolean bf16 = dtype.equals("bf16");
        double conv = bf16 ? ceiling.convBf16() : ceiling.convFp32();
        double mm = bf16 ? ceiling.matmulBf16() : ceiling.matmulFp32();
        double ideal = flops.convolution() / (conv * 1e9) + (flops.linear() + flops.attention()) / (mm * 1e9);
        return ideal / seconds;
    }

    public void printTable(PrintWriter out) {
        out.printf(Locale.ROOT, "jdiffusion bench: %s%n", model);
        out.printf(Locale.ROOT, "CPU: %s, %d threads (%d physical cores), native bf16: %s, class: %s%n", cpu, threads,
                physicalCores, cpuHasBf16 ? "yes" : "no", cpuClass);
        out.printf(Locale.ROOT, "Load average at start %s, at end %s (other work slows every figure)%n",
                ReportJson.loadAverage(loadAverage), ReportJson.loadAverage(loadAverageAtEnd));
        out.printf(Locale.ROOT, "Ceiling (GFLOP/s): matmul fp32 %.0f, bf16 %.0f (%.2f GFLOP per call); 3x3 conv fp32 %.0f,"
                        + " bf16 %.0f%s (%.2f GFLOP per call)%n",
                ceiling.matmulFp32(), ceiling.matmulBf16(), ceiling.matmulGflop(), ceiling.convFp32(), ceiling.convBf16(),
                ceiling.convChannelsLast() ? " (channels-last)" : "", ceiling.convGflop());
        out.printf(Locale.ROOT, "Attention (GFLOP/s, %.3f GFLOP per call): %s; bf16 inference uses %s%n", ceiling.attentionGflop(),
                String.join(", ", ceiling.attention().entrySet().stream()
                        .map(e -> String.format(Locale.ROOT, "%s %.1f", e.getKey(), e.getValue())).toList()),
                ceiling.attentionKernelBf16());
        out.println();
        out.println("dtype  size  load   text   UNet step  VAE decode  total    peak RSS  UNet GFLOP  GFLOP/s  of ceiling"
                + "  VAE GFLOP  GFLOP/s  of ceiling  finite");
        for (BenchRun r : runs) {
            out.printf(Locale.ROOT, "%-5s  %4d  %5.1f  %5.2f  %8.2f s  %8.2f s  %6.1f s  %5.2f GB  %10.0f  %7.0f  %9.0f%%  %9.0f  %7.0f  %9.0f%%  %s%n",
                    r.dtype(), r.size(), r.loadSeconds(), r.textEncodeSeconds(), r.unetStepSeconds(),
                    r.vaeDecodeSeconds(), r.totalSeconds(), r.peakRssBytes() / 1e9, r.unetFlops().total() / 1e9,
                    r.unetGflopsPerSecond(), 100 * fractionOfCeiling(r.unetFlops(), r.unetStepSeconds(), r.dtype()),
                    r.vaeFlops().total() / 1e9, r.vaeGflopsPerSecond(),
                    100 * fractionOfCeiling(r.vaeFlops(), r.vaeDecodeSeconds(), r.dtype()), r.finite() ? "yes" : "NO");
        }
        out.println("Peak RSS after load / after the denoising loop / after the VAE decode: " + String.join("; ",
                runs.stream().map(r -> String.format(Locale.ROOT, "%s %d: %.2f / %.2f / %.2f GB", r.dtype(), r.size(),
                        r.peakRssLoadBytes() / 1e9, r.peakRssDenoiseBytes() / 1e9, r.peakRssBytes() / 1e9)).toList())
                + " (one image per process, as the command line: the text encoder released before the loop, the UNet before the decode)");
        out.println();
        out.println("Where the time goes (seconds per UNet step / per VAE decode):");
        out.println("dtype  size  part  convolution  linear  attention  normalisation  other (elementwise, copies)");
        for (BenchRun r : runs) {
            breakdown(out, r, "UNet", r.unetStepBreakdown());
            breakdown(out, r, "VAE", r.vaeDecodeBreakdown());
        }
        out.println();
        out.println("Steps (s): " + String.join("; ", runs.stream().map(r -> r.dtype() + " " + r.size() + ": "
                + String.join(" ", r.stepSeconds().stream().map(s -> String.format(Locale.ROOT, "%.2f", s)).toList())).toList()));
        boolean anyReference = runs.stream().anyMatch(r -> r.size() == 256 || r.size() == 512);
        if (anyReference) {
            out.println();
            out.println("Against the issue's reference points (ours / theirs; below 1 is faster):");
            for (BenchRun r : runs) {
                if (r.size() != 256 && r.size() != 512) continue;
                StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-5s %d  UNet step", r.dtype(), r.size()));
                for (ReferencePoints p : ReferencePoints.ALL) {
                    sb.append(String.format(Locale.ROOT, "  %s %.2f", p.name(), r.unetStepSeconds() / p.unetStep(r.size())));
                }
                out.println(sb);
                sb = new StringBuilder(String.format(Locale.ROOT, "%-5s %d  VAE decode", r.dtype(), r.size()));
                for (ReferencePoints p : ReferencePoints.ALL) {
                    sb.append(String.format(Locale.ROOT, " %s %.2f", p.name(), r.vaeDecodeSeconds() / p.vaeDecode(r.size())));
                }
                out.println(sb);
                if (r.size() == 512) {
                    sb = new StringBuilder(String.format(Locale.ROOT, "%-5s %d  peak RSS  ", r.dtype(), r.size()));
                    for (ReferencePoints p : ReferencePoints.ALL) {
                        sb.append(String.format(Locale.ROOT, "  %s %.2f", p.name(), r.peakRssBytes() / 1e9 / p.peakRss512()));
                    }
                    out.println(sb);
                }
            }
            out.printf(Locale.ROOT, "Targets: UNet step >= %.0f%% of the ceiling, VAE decode >= %.0f%%, peak RSS at 512 <= %.1f GB%n",
                    100 * ReferencePoints.UNET_TARGET_FRACTION, 100 * ReferencePoints.VAE_TARGET_FRACTION,
                    ReferencePoints.PEAK_RSS_512_TARGET_GB);
        }
        if (compare != null) {
            out.println();
            out.printf(Locale.ROOT, "Against %s%s (ours / theirs; below 1 is faster or smaller):%n", compare.name(),
                    compare.cpu() == null ? "" : compare.cpu().equals(cpu) ? " on this CPU"
                            : " measured on " + compare.cpu() + " - another CPU than this one");
            if (compareRatios.isEmpty()) out.println("  no run of this report has the dtype and size of one of theirs");
            for (Comparison.Ratio r : compareRatios) {
                out.printf(Locale.ROOT, "  %-5s %4d  UNet step %.2f  VAE decode %.2f  peak RSS %.2f%n", r.dtype(), r.size(),
                        r.unetStep(), r.vaeDecode(), r.peakRss());
            }
        }
        if (memorySteps != null) {
            out.println();
            out.printf(Locale.ROOT, "Memory over %d steps (%s, %dx%d): resident %.1f MB after the first step, %.1f MB after the last"
                            + " (of which Java heap committed %.1f -> %.1f MB)%n",
                    memorySteps.steps(), memorySteps.dtype(), memorySteps.size(), memorySteps.size(),
                    memorySteps.rssAfterFirstStep() / 1048576.0, memorySteps.rssAfterLastStep() / 1048576.0,
                    memorySteps.javaHeapAfterFirstStep() / 1048576.0, memorySteps.javaHeapAfterLastStep() / 1048576.0);
        }
        out.flush();
    }

    private static void breakdown(PrintWriter out, BenchRun r, String part, Breakdown b) {
        out.printf(Locale.ROOT, "%-5s  %4d  %-4s  %11.3f  %6.3f  %9.3f  %13.3f  %6.3f%n", r.dtype(), r.size(), part,
                b.convolution(), b.linear(), b.attention(), b.normalisation(), b.other());
    }

}
