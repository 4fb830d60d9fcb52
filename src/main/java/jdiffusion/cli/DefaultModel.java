package jdiffusion.cli;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import jdiffusion.JDiffusionException;
import jdiffusion.io.EmbeddedModel;

/** The model a command uses when no {@code --model} is given: the one in {@code models/} of the checkout, else the jar's ({@link EmbeddedModel}). */
final class DefaultModel {
    static final String FOLDER = "models/tiny-shapes";

    private DefaultModel() {}

    static String locate() {
        for (Path base : candidates()) {
            Path p = base.resolve(FOLDER);
            if (Files.isRegularFile(p.resolve("model_index.json"))) return p.toString();
        }
        try {
            return EmbeddedModel.folder().toString(); // the copy the jar carries
        } catch (JDiffusionException e) {
            throw new JDiffusionException("no --model given, and the embedded default model (" + FOLDER
                    + ") is neither in this checkout nor in the jar; pass --model DIR (a diffusers folder) or ORG/NAME"
                    + " from the Hugging Face cache");
        }
    }

    private static Path[] candidates() {
        Path cwd = Path.of("").toAbsolutePath();
        try {
            // the jar sits in <repo>/target/
            Path jar = Path.of(DefaultModel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path repo = jar.getParent() == null ? cwd : jar.getParent().getParent();
            return new Path[] {repo == null ? cwd : repo, cwd};
        } catch (URISyntaxException | SecurityException e) {
            return new Path[] {cwd};
        }
    }
}
