package jdiffusion.tools.bench;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;

/**
 * Everything one {@code jdiffusion bench-train} measured, printed as a table or as JSON
 * (snake_case keys of these records).
 *
 * @param loadAverage      1/5/15-minute load averages at the start and at the end: other work on
 *                         the machine slows every figure
 */
public record TrainingBenchReport(String model, String cpu, int threads, int physicalCores, double[] loadAverage,
                                  double[] loadAverageAtEnd, List<TrainingBenchRun> runs) {
    public String toJson() {
        return ReportJson.write(this, "the training bench report");
    }

    public void printTable(PrintWriter out) {
        out.printf(Locale.ROOT, "jdiffusion bench-train: %s%n", model);
        out.printf(Locale.ROOT, "CPU: %s, %d threads (%d physical cores)%n", cpu, threads, physicalCores);
        out.printf(Locale.ROOT, "Load average at start %s, at end %s (other work slows every figure)%n",
                ReportJson.loadAverage(loadAverage), ReportJson.loadAverage(loadAverageAtEnd));
        out.println();
        out.println("mode             res  batch  precision  checkpointing  trainable     step (median)  peak RSS   above setup  finite");
        for (TrainingBenchRun r : runs) {
            out.printf(Locale.ROOT, "%-15s  %4d  %5d  %-9s  %-13s  %9.2f M  %10.3f s  %6.3f GB  %8.3f GB  %s%n",
                    r.mode().equals("lora") ? "lora r" + r.rank() : r.mode(), r.resolution(), r.batch(), r.mixedPrecision(),
                    r.gradientCheckpointing() ? "on" : "off", r.trainableParameters() / 1e6, r.medianStepSeconds(),
                    r.peakRssBytes() / 1e9, r.peakAboveSetupBytes() / 1e9, r.finite() ? "yes" : "NO");
        }
        // checkpointing on against off, for settings measured both ways
        for (TrainingBenchRun on : runs) {
            if (!on.gradientCheckpointing()) continue;
            for (TrainingBenchRun off : runs) {
                if (off.gradientCheckpointing() || !sameSetting(on, off)) continue;
                out.printf(Locale.ROOT, "Gradient checkpointing (%s %d, batch %d, %s): step x%.2f, memory above setup x%.2f%n",
                        on.mode(), on.resolution(), on.batch(), on.mixedPrecision(),
                        on.medianStepSeconds() / off.medianStepSeconds(),
                        (double) on.peakAboveSetupBytes() / Math.max(1, off.peakAboveSetupBytes()));
            }
        }
        out.println();
        out.println("Steps (s, the warm-up first): " + String.join("; ", runs.stream().map(r -> (r.gradientCheckpointing()
                ? "on" : "off") + ": " + String.join(" ", r.stepSeconds().stream()
                .map(s -> String.format(Locale.ROOT, "%.3f", s)).toList())).toList()));
        out.flush();
    }

    private static boolean sameSetting(TrainingBenchRun a, TrainingBenchRun b) {
        return a.mode().equals(b.mode()) && a.rank() == b.rank() && a.resolution() == b.resolution()
                && a.batch() == b.batch() && a.mixedPrecision().equals(b.mixedPrecision());
    }

}
