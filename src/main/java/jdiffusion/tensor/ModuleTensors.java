package jdiffusion.tensor;

import java.lang.ref.Reference;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringTensorDict;
import org.bytedeco.pytorch.StringTensorDictItemVector;
import org.bytedeco.pytorch.Tensor;

/**
 * A module's tensors by their full dotted names, as {@code named_parameters()} / {@code state_dict()}
 * name them (which are the checkpoint keys, since registered names are diffusers' attribute names).
 *
 * <p>The returned tensors are handles this map owns, sharing each tensor's storage (and a
 * parameter's gradient): the dictionary items libtorch hands out are references into a temporary and
 * must not outlive it. Call outside any PointerScope when the map is kept beyond one.
 *
 * <p>Example: {@code ModuleTensors.parameters(unet, "unet.").get("unet.conv_in.weight")}.
 */
public final class ModuleTensors {
    private ModuleTensors() {}

    /** Parameters, then buffers, by full dotted name in registration order (the state dict). */
    public static Map<String, Tensor> namedTensors(Module module) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect(module.named_parameters(true), "", out);
        collect(module.named_buffers(true), "", out);
        return out;
    }

    /** The parameters only (what an optimiser trains), by {@code prefix} + dotted name. */
    public static Map<String, Tensor> parameters(Module module, String prefix) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect(module.named_parameters(true), prefix, out);
        return out;
    }

    private static void collect(StringTensorDict dict, String prefix, Map<String, Tensor> out) {
        // items() is a reference to the dictionary's own vector, and key()/value() references into it:
        // `dict` must stay reachable until the loop ends, or the collector may free the dictionary while
        // its keys are read (seen as garbage parameter names under load, with two training workers).
        StringTensorDictItemVector items = dict.items();
        try {
            for (long i = 0; i < items.size(); i++) {
                // the C++ copy constructor gives an owning handle that outlives the dictionary
                out.put(prefix + items.get(i).key().getString(), new Tensor(items.get(i).value()));
            }
        } finally {
            Reference.reachabilityFence(dict);
            Reference.reachabilityFence(items);
        }
    }
}
