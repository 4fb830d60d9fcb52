package jdiffusion.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import jdiffusion.server.ServeBenchmark;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code jdiffusion bench-serve}: load and cancel figures of {@code serve} on loopback (see docs/server.md). */
@Command(name = "bench-serve", mixinStandardHelpOptions = true,
        description = "Drive an in-process server on loopback with concurrent clients; print throughput, latency, 429/5xx, lost jobs and RSS.")
final class BenchServeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "Model (default: the embedded tiny model).")
    String model;

    @Option(names = "--clients", description = "Concurrent clients (default: ${DEFAULT-VALUE}).")
    int clients = 20;

    @Option(names = "--requests", description = "Requests in all (default: ${DEFAULT-VALUE}).")
    int requests = 200;

    @Option(names = "--steps", description = "Steps per image (default: ${DEFAULT-VALUE}).")
    int steps = 4;

    @Option(names = "--size", description = "Image side in pixels (default: ${DEFAULT-VALUE}).")
    int size = 64;

    @Option(names = "--queue-size", description = "Server queue size (default: ${DEFAULT-VALUE}).")
    int queueSize = 16;

    @Option(names = "--cancels", description = "Running jobs cancelled in a row after the load (default: ${DEFAULT-VALUE}).")
    int cancels = 50;

    @Option(names = "--max-seconds", description = "Stop issuing requests after this long (default: ${DEFAULT-VALUE}).")
    double maxSeconds = 300;

    @Override
    public Integer call() throws Exception {
        Path outputs = Files.createTempDirectory("jdiffusion-bench-serve-");
        var config = new ServeBenchmark.Config(model != null ? model : DefaultModel.locate(), outputs, clients, requests, steps,
                size, queueSize, cancels, maxSeconds);
        for (String line : new ServeBenchmark(config).run()) spec.commandLine().getOut().println(line);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
