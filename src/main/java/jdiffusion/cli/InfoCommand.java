package jdiffusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import jdiffusion.JDiffusionException;
import jdiffusion.image.ImageFiles;
import jdiffusion.pipelines.PngParameters;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code jdiffusion info IMAGE.png}: the generation parameters an image carries. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print the generation parameters stored in a PNG or a JPEG that jdiffusion wrote (AUTOMATIC1111 format).")
final class InfoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "IMAGE")
    Path image;

    @Override
    public Integer call() {
        String text = ImageFiles.readParameters(image);
        if (text == null) {
            throw new JDiffusionException(image + " carries no generation parameters (no PNG 'parameters' text chunk, no JPEG comment)");
        }
        PngParameters p = PngParameters.parse(text);
        PrintWriter out = spec.commandLine().getOut();
        out.println(p.format());
        out.flush();
        return 0;
    }
}
