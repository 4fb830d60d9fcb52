package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import jdiffusion.schedulers.PredictionType;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** One spelling per thing across the commands; the old spellings still parse, hidden, so scripts keep working. */
class OptionSpellingsTest {
    private static final Set<String> OLD = Set.of("--n", "--guidance", "--mixed-precision", "--bf16", "--prediction");

    @Test
    void noCommandShowsAnOldSpelling() {
        CommandLine main = Main.commandLine();
        for (CommandLine sub : main.getSubcommands().values()) {
            for (OptionSpec option : sub.getCommandSpec().options()) {
                if (option.hidden()) continue;
                for (String name : option.names()) {
                    assertFalse(OLD.contains(name), sub.getCommandName() + " shows " + name);
                }
            }
        }
    }

    @Test
    void newAndOldSpellingsMeanTheSame() {
        TrainTinyCommand tiny = parse(new TrainTinyCommand(), "--prediction-type", "epsilon", "--dtype", "bf16");
        assertEquals(PredictionType.EPSILON, tiny.prediction);
        assertTrue(tiny.dtype.bf16());
        tiny = parse(new TrainTinyCommand(), "--prediction", "V_PREDICTION", "--bf16");
        assertEquals(PredictionType.V_PREDICTION, tiny.prediction);
        assertTrue(tiny.dtype.bf16());
        assertFalse(parse(new TrainTinyCommand()).dtype.bf16());

        DreamBoothCommand db = parse(new DreamBoothCommand(), "--instance-dir", "x", "--instance-prompt", "p", "--mixed-precision", "no");
        assertEquals("no", db.dtype.mixedPrecision());
        db = parse(new DreamBoothCommand(), "--instance-dir", "x", "--instance-prompt", "p", "--dtype", "bf16");
        assertEquals("bf16", db.dtype.mixedPrecision());

        EvalTinyCommand eval = parse(new EvalTinyCommand(), "--num-images", "3", "--guidance-scale", "1,2.5");
        assertEquals(3, eval.n);
        assertEquals(List.of(1.0, 2.5), eval.guidance);
        eval = parse(new EvalTinyCommand(), "--n", "4", "--guidance", "7");
        assertEquals(4, eval.n);
        assertEquals(List.of(7.0), eval.guidance);

        assertEquals(6, parse(new ShapesCommand(), "--out", "x", "--num-images", "6").n);
        assertEquals(7, parse(new ShapesCommand(), "--out", "x", "--n", "7").n);
    }

    @Test
    void tokenizeUsesTheEmbeddedModelLikeTheGenerators() {
        CliRunner r = CliRunner.run("tokenize", "--json", "a red circle");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("\"tokens\":[\"a</w>\",\"red</w>\",\"circle</w>\"]"), r.out());
    }

    private static <T> T parse(T command, String... args) {
        CommandLine cli = new CommandLine(command);
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.parseArgs(args);
        return command;
    }
}
