package jdiffusion.models.unet2d;

import jdiffusion.JDiffusionException;

/** The check every class-conditioned model makes of its labels, in one place. */
public final class ClassLabels {
    private ClassLabels() {}

    /** Throws a one-line {@link JDiffusionException} for a label outside [0, numClasses). */
    public static void check(long[] labels, int numClasses) {
        for (long label : labels) {
            if (label < 0 || label >= numClasses) {
                throw new JDiffusionException("class label " + label + " is out of range: the model knows "
                        + numClasses + " classes, 0 to " + (numClasses - 1));
            }
        }
    }
}
