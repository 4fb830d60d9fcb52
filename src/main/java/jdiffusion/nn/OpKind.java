package jdiffusion.nn;

/** The kinds of work an {@link OpObserver} sees: where a forward's FLOPs and most of its time go. */
public enum OpKind {
    /** nn.Conv2d. */
    CONVOLUTION,
    /** nn.Linear. */
    LINEAR,
    /** The two matmuls and softmax of scaled dot-product attention. */
    ATTENTION,
    /** GroupNorm and LayerNorm (no FLOPs counted: memory-bound). */
    NORMALISATION
}
