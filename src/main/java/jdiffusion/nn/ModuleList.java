package jdiffusion.nn;

import org.bytedeco.pytorch.Module;

/**
 * {@code nn.ModuleList}: registers children under "0", "1", ... so their parameters get the
 * checkpoint's index in the key ({@code down_blocks.1.resnets.0.conv1.weight}). Forward code keeps
 * its own typed Java list of the same children; this class only provides the names.
 */
public final class ModuleList extends JavaModule {
    private int size;

    /** Registers {@code child} under the next index and returns it. */
    public <M extends Module> M add(M child) {
        return register_module(Integer.toString(size++), child);
    }

    /** Registers {@code child} under an explicit index, for lists with weightless gaps. */
    public <M extends Module> M put(int index, M child) {
        size = Math.max(size, index + 1);
        return register_module(Integer.toString(index), child);
    }
}
