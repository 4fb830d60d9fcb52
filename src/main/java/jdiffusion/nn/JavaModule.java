package jdiffusion.nn;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Module;

/**
 * Base class of every module written in Java. Keeps each registered child reachable from its
 * Java parent.
 *
 * <p>Why: a {@code torch::nn::Module} allocated from Java is a JavaCPP virtual adapter whose
 * {@code train}/{@code to}/{@code clone} call back into the Java object. libtorch's parent holds
 * the child natively, but if the Java object is garbage-collected, the next {@code eval()} or
 * {@code to(...)} on the root dereferences a dead callback target (NullPointerException in native
 * code). Registering through here pins every child for as long as the root is reachable.
 *
 * <p>{@link #close} releases the whole tree at once (the Java handles of the children would
 * otherwise keep the native parameters alive until they are collected).
 */
public abstract class JavaModule extends Module {
    private final List<Module> children = new ArrayList<>();

    @Override
    public <M extends Module> M register_module(String name, M child) {
        children.add(child);
        return super.register_module(name, child);
    }

    /** Releases this module and every registered child; the model is unusable afterwards. */
    @Override
    public void close() {
        for (Module child : children) child.close();
        children.clear();
        super.close();
    }
}
