package jdiffusion.tools.bench;

import jdiffusion.nn.OpKind;

/**
 * Where the time of one UNet step or VAE decode goes, in seconds: the observed kinds of op, and
 * the rest (activations, additions, upsampling, concatenation and layout copies, scheduler math).
 */
public record Breakdown(double convolution, double linear, double attention, double normalisation, double other) {
    /** The tally of {@code count} calls that took {@code wallSeconds} in all, per call. */
    static Breakdown of(OpTally tally, double wallSeconds, int count) {
        double observed = tally.totalSeconds();
        return new Breakdown(tally.seconds(OpKind.CONVOLUTION) / count, tally.seconds(OpKind.LINEAR) / count,
                tally.seconds(OpKind.ATTENTION) / count, tally.seconds(OpKind.NORMALISATION) / count,
                Math.max(0, wallSeconds - observed) / count);
    }
}
