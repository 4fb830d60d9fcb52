package jdiffusion.pipelines;

import jdiffusion.JDiffusionException;

/** A generation stopped on request (Ctrl-C, a cancelled HTTP job) before it finished. */
public final class GenerationCancelledException extends JDiffusionException {
    public GenerationCancelledException(String message) {
        super(message);
    }
}
