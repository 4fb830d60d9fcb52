package jdiffusion.cli;

import java.io.PrintWriter;
import java.util.Map;
import java.util.concurrent.Callable;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.schedulers.Schedulers.Sampler;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code jdiffusion samplers}: the sampler names --sampler accepts, with their diffusers classes. */
@Command(name = "samplers", mixinStandardHelpOptions = true,
        description = "List the samplers: AUTOMATIC1111 name, diffusers scheduler class, options, stochastic or not.")
final class SamplersCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%-17s %-33s %-24s %s%n", "SAMPLER", "DIFFUSERS CLASS", "OPTIONS", "STOCHASTIC");
        for (Sampler s : Schedulers.samplers()) {
            out.printf("%-17s %-33s %-24s %s%n", s.name(), s.kind().className(), options(s.options()),
                    s.stochastic() ? "yes" : stochasticNote(s));
        }
        out.println("Names are case-insensitive; a diffusers class name works too.");
        out.flush();
        return 0;
    }

    private static String options(Map<String, Object> options) {
        if (options.isEmpty()) return "-";
        StringBuilder sb = new StringBuilder();
        options.forEach((k, v) -> sb.append(sb.isEmpty() ? "" : ",").append(k).append('=').append(v));
        return sb.toString();
    }

    private static String stochasticNote(Sampler s) {
        return s.name().equals("DDIM") ? "no (yes with eta > 0)" : "no";
    }
}
