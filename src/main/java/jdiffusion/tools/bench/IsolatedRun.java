package jdiffusion.tools.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import jdiffusion.JDiffusionException;

/**
 * One benchmark configuration in a JVM of its own ({@code bench --one-run}), its {@link BenchRun}
 * read back as JSON. In one process the configurations disturbed each other: after the fp32 runs
 * the bf16 UNet step at 256x256 took 1.21 s instead of 0.70 s, and the peak memory of the bf16
 * runs carried 1.6 GB that the fp32 runs had left resident. The child inherits this JVM's flags,
 * class path and environment (thread and allocator settings).
 */
final class IsolatedRun {
    private IsolatedRun() {}

    static BenchRun run(Path model, String dtype, int size, int steps, int threads, PrintWriter log) {
        return run(List.of("bench", "--one-run", "--model", model.toString(), "--dtype", dtype, "--size",
                Integer.toString(size), "--steps", Integer.toString(steps), "--threads", Integer.toString(threads)),
                "the " + dtype + " " + size + "x" + size + " configuration", BenchRun.class);
    }

    /**
     * {@code jdiffusion <arguments>} in a child JVM with this one's flags, class path and
     * environment; its standard output parsed as a {@code type} in JSON. {@code what} names the
     * run in errors.
     */
    static <T> T run(List<String> arguments, String what, Class<T> type) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add("jdiffusion.cli.Main");
        command.addAll(arguments);
        try {
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            p.getOutputStream().close();
            String out;
            try (InputStream in = p.getInputStream()) {
                out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            int code = p.waitFor();
            if (code != 0) throw new JDiffusionException(what + " failed in its own JVM (exit " + code + ")");
            return ReportJson.read(out, type);
        } catch (IOException e) {
            throw new JDiffusionException("cannot run " + what + " in a JVM of its own: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new JDiffusionException("interrupted while " + what + " ran", e);
        }
    }

}
