package jdiffusion.io;

import org.bytedeco.pytorch.Tensor;

/**
 * One tensor of a weights file (safetensors or a torch pickle), described before it is read: its
 * dtype and shape from the header, the data on demand.
 */
public interface StoredTensor {
    DType dtype();

    long[] shape();

    /** The tensor, aliasing the underlying mapping where possible; valid while its file is open. */
    Tensor view();

    /** Lets the OS drop the mapped pages of this tensor once copied (it stays readable). */
    default void evict() {}
}
