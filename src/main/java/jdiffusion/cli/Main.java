package jdiffusion.cli;

import java.util.concurrent.Callable;
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
        })
public final class Main implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** No command given: the usage, on stderr, and a failing exit code (a script that forgot the verb must notice). */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
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
        // --prediction-type epsilon|v_prediction, as diffusers spells the values, for enum options too
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setParameterExceptionHandler(Main::oneLine);
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof JDiffusionException) {
                commandLine.getErr().println("error: " + ex.getMessage());
                return 2;
            }
            throw ex;
        });
        return cli;
    }

    /**
     * A command line picocli cannot parse (unknown option, a value out of range, a missing
     * argument): one line saying what is wrong and where the help is, not 80 lines of usage.
     */
    private static int oneLine(CommandLine.ParameterException ex, String[] args) {
        CommandLine cli = ex.getCommandLine();
        String message = ex.getMessage() == null ? ex.toString() : ex.getMessage().strip().replaceAll("\\s*\\R\\s*", " ");
        cli.getErr().println("error: " + message + " (see: " + cli.getCommandSpec().qualifiedName() + " --help)");
        cli.getErr().flush();
        return 2;
    }
}
