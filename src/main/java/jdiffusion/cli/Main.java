package jdiffusion.cli;

import jdiffusion.JDiffusionException;
import jdiffusion.tensor.NativeThreads;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jdiffusion} command: one picocli subcommand per verb. */
@Command(name = "jdiffusion", mixinStandardHelpOptions = true, version = "jdiffusion 0.1.0",
        description = "Stable Diffusion for the JVM.",
        subcommands = {
                TextToImageCommand.class,
                ImageToImageCommand.class,
                InpaintCommand.class,
                InspectCommand.class,
                InfoCommand.class,
                TokenizeCommand.class,
                SamplersCommand.class,
                ConvertCommand.class,
                TrainTinyCommand.class,
                EvalTinyCommand.class,
                DreamBoothCommand.class, ShapesCommand.class,
                CreateRandomCommand.class,
                BenchCommand.class,
                BenchTrainCommand.class,
                ServeCommand.class,
                BenchServeCommand.class,
        })
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        // libtorch starts one thread per logical CPU; hyperthread pairs only compete for one core's
        // vector units. OMP_NUM_THREADS, when set, is the user's choice and wins.
        if (System.getenv("OMP_NUM_THREADS") == null) NativeThreads.setComputeThreads(NativeThreads.physicalCores());
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests call {@code execute} on it directly. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        // A prompt such as "@artist style" is text, never a file of arguments.
        cli.setExpandAtFiles(false);
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof JDiffusionException) {
                commandLine.getErr().println("error: " + ex.getMessage());
                return 2;
            }
            throw ex;
        });
        return cli;
    }
}
