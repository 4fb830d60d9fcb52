package jdiffusion.cli;

import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.ConvolutionBackends;
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
                DepthToImageCommand.class,
                DepthCommand.class,
                UpscaleCommand.class,
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
                DoctorCommand.class,
                SampleCommand.class,
                FinetuneDdpmCommand.class,
                TrainClassConditionedCommand.class, EvalClassConditionedCommand.class, FashionMnistImagesCommand.class,
                ServeCommand.class,
                BenchServeCommand.class,
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
        NativeThreads.configureForInference(); // once, before any command: see its comment
        ConvolutionBackends.disableNnpack(); // oneDNN for every convolution: see its comment
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
        cli.setExecutionExceptionHandler(Main::failed);
        return cli;
    }

    /**
     * A command that failed: what jdiffusion checks (bad input) is one line and exit code 2; anything
     * else (a bug, a native libtorch error, out of memory) is one line too, with exit code 1 and the
     * way to see the stack trace for a bug report.
     */
    private static int failed(Exception ex, CommandLine commandLine, CommandLine.ParseResult parseResult) throws Exception {
        if (ex instanceof JDiffusionException) {
            commandLine.getErr().println("error: " + ex.getMessage());
            commandLine.getErr().flush();
            return 2;
        }
        if (System.getenv("JDIFFUSION_STACKTRACE") != null) throw ex;
        String message = ex.getMessage() == null ? "" : ex.getMessage().strip().lines().findFirst().orElse("");
        commandLine.getErr().println("error: unexpected " + ex.getClass().getName() + (message.isEmpty() ? "" : ": " + message)
                + " (a bug or a libtorch failure; run again with JDIFFUSION_STACKTRACE=1 for the stack trace to report)");
        commandLine.getErr().flush();
        return 1;
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
