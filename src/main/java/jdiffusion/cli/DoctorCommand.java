package jdiffusion.cli;

import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import jdiffusion.diagnostics.SelfCheck;
import jdiffusion.diagnostics.SystemReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion doctor}: the machine as libtorch sees it, then the self-check of the UNet's
 * ops against float64. The first thing to run on a new machine, and to paste into a bug report.
 * Exit code 0 when every op is right, 1 when one is not.
 */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = {"Print the CPU, its vector extensions, libtorch/oneDNN versions and thread settings, "
                + "then check forward and backward of the ops the models use (fp32 and bf16) against float64.",
                "Exit code 1 when an op computes wrong numbers on this machine."})
final class DoctorCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--all", description = "Print every comparison, not one line per op and dtype.")
    boolean all;

    @Option(names = "--no-self-check", description = "Only print the system report.")
    boolean noSelfCheck;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        SystemReport.collect().forEach((k, v) -> out.printf("%-24s %s%n", k + ":", v));
        if (noSelfCheck) {
            out.flush();
            return 0;
        }
        out.println();
        out.println("Self-check: forward, input and weight gradients against float64 (relative to the largest element)");
        out.flush();
        long start = System.nanoTime();
        List<SelfCheck.Result> results = SelfCheck.run();
        int wrong = 0;
        if (all) {
            for (SelfCheck.Result r : results) out.println("  " + r);
        } else {
            // the worst quantity of each op and dtype: its margin to the tolerance decides
            Map<String, SelfCheck.Result> worst = new LinkedHashMap<>();
            for (SelfCheck.Result r : results) {
                worst.merge(r.op() + " " + r.dtype(), r, (a, b) -> margin(b) > margin(a) ? b : a);
            }
            for (SelfCheck.Result r : worst.values()) {
                out.printf("  %-5s %-34s %-5s worst %.1e (%s, allowed %.1e)%n", r.passed() ? "ok" : "WRONG",
                        r.op(), r.dtype(), r.relativeError(), r.quantity(), r.tolerance());
            }
        }
        for (SelfCheck.Result r : results) if (!r.passed()) wrong++;
        out.printf("%d of %d comparisons right in %.1f s.%n", results.size() - wrong, results.size(),
                (System.nanoTime() - start) / 1e9);
        if (wrong > 0) {
            out.println("Some ops compute wrong numbers on this CPU: please report this output at the project's issues.");
        }
        out.flush();
        return wrong == 0 ? 0 : 1;
    }

    /** How far past its tolerance a result is (NaN counts as infinitely far). */
    private static double margin(SelfCheck.Result r) {
        return Double.isNaN(r.relativeError()) ? Double.POSITIVE_INFINITY : r.relativeError() / r.tolerance();
    }
}
