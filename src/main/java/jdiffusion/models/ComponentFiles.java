package jdiffusion.models;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import org.bytedeco.javacpp.PointerScope;

/**
 * Where a diffusers component folder ({@code unet/}, {@code vae/}) keeps its weights, and guards
 * shared by the model loaders.
 *
 * <p>Interim: only the plain {@code diffusion_pytorch_model.safetensors}. The lead's
 * {@code jdiffusion.io.ModelFolder} (shards via {@code *.safetensors.index.json}, {@code .fp16.}
 * variants) will replace {@link #weights}; it is the one place to redirect.
 */
public final class ComponentFiles {
    public static final String WEIGHTS = "diffusion_pytorch_model.safetensors";

    private ComponentFiles() {}

    /** The weight files of the component in {@code folder}; {@code what} names it in errors. */
    public static List<Path> weights(Path folder, String what) {
        if (!Files.isDirectory(folder)) {
            throw new JDiffusionException(what + " folder " + folder + " does not exist");
        }
        Path file = folder.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            throw new JDiffusionException(folder + " has no " + WEIGHTS + " (the " + what
                    + " weights); sharded, variant (.fp16) and .bin checkpoints are not supported here yet");
        }
        return List.of(file);
    }

    /**
     * Models must be built outside any {@link PointerScope}: a scope would free the Java handles of
     * the layers when it closes while the model still uses them. Called first by model constructors.
     */
    public static void requireNoPointerScope(String what) {
        if (PointerScope.getInnerScope() != null) {
            throw new IllegalStateException("build or load the " + what + " outside any PointerScope: "
                    + "closing the scope would free the model's layers; open scopes only around forward calls");
        }
    }
}
