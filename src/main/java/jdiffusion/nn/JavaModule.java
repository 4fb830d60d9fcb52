package jdiffusion.nn;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiConsumer;
import org.bytedeco.pytorch.Module;

/**
 * Base class of every module written in Java. Keeps each registered child, by its registered name,
 * reachable from its Java parent, so the Java tree can be walked like {@code named_modules()}.
 *
 * <p>Why keep them: a {@code torch::nn::Module} allocated from Java is a JavaCPP virtual adapter
 * whose {@code train}/{@code to}/{@code clone} call back into the Java object. libtorch's parent
 * holds the child natively, but if the Java object is garbage-collected, the next {@code eval()} or
 * {@code to(...)} on the root dereferences a dead callback target (NullPointerException in native
 * code). Registering through here pins every child for as long as the root is reachable. And
 * libtorch's own {@code named_modules()} hands out fresh wrappers, not the Java objects whose
 * {@code forward} runs: {@link #namedModules} is the way from a name to the object (LoRA training
 * finds its target layers so).
 *
 * <p>{@link #close} releases the whole tree at once (the Java handles of the children would
 * otherwise keep the native parameters alive until they are collected).
 */
public abstract class JavaModule extends Module {
    private final Map<String, Module> children = new LinkedHashMap<>();

    @Override
    public <M extends Module> M register_module(String name, M child) {
        M registered = super.register_module(name, child);
        children.put(name, child);
        return registered;
    }

    /** The children registered here, by registered name, in registration order. */
    public Map<String, Module> childModules() {
        return Collections.unmodifiableMap(children);
    }

    /**
     * Every module below this one, as the Java objects that were registered, by the dotted name
     * {@code named_modules()} gives them (this module excluded), depth first in registration order.
     * Children that are not {@code JavaModule}s (libtorch's own layers) are leaves.
     *
     * <p>Example: {@code unet.namedModules().get("mid_block.attentions.0.transformer_blocks.0.attn1.to_q")}.
     */
    public Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        walk("", (name, module) -> out.put(name, module));
        return out;
    }

    private void walk(String prefix, BiConsumer<String, Module> visitor) {
        children.forEach((name, child) -> {
            visitor.accept(prefix + name, child);
            if (child instanceof JavaModule java) java.walk(prefix + name + ".", visitor);
        });
    }

    /** Releases this module and every registered child; the model is unusable afterwards. */
    @Override
    public void close() {
        for (Module child : children.values()) child.close();
        children.clear();
        super.close();
    }
}
