package jdiffusion.weights;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import jdiffusion.JDiffusionException;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Tensor;

/**
 * Copies a {@link StateDict} into a module whose registered names are the checkpoint's keys
 * (as diffusers' {@code load_state_dict}, strict). Every problem is collected first and reported
 * once: missing, unexpected and mis-shaped tensors by name, with shapes.
 */
public final class WeightLoader {
    private WeightLoader() {}

    /**
     * Loads every tensor of {@code module} from {@code weights}, converting to the module's dtype
     * on the way (one copy out of the mapping). {@code what} names the component in errors.
     */
    public static void load(Module module, StateDict weights, String what) {
        Map<String, Tensor> targets = ModuleTensors.namedTensors(module);
        List<String> missing = new ArrayList<>();
        List<String> misshaped = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : targets.entrySet()) {
            if (!weights.contains(e.getKey())) {
                missing.add(e.getKey());
                continue;
            }
            long[] expected = Tensors.shape(e.getValue());
            long[] actual = weights.shape(e.getKey());
            if (!Arrays.equals(expected, actual)) {
                misshaped.add(e.getKey() + ": file has " + Tensors.shapeString(actual)
                        + ", the model expects " + Tensors.shapeString(expected));
            }
        }
        TreeSet<String> unexpected = new TreeSet<>(weights.keys());
        unexpected.removeAll(targets.keySet());
        if (!missing.isEmpty() || !misshaped.isEmpty() || !unexpected.isEmpty()) {
            throw new JDiffusionException(report(what, weights.description(), missing, misshaped, unexpected));
        }
        try (NoGradGuard ignored = new NoGradGuard()) {
            for (Map.Entry<String, Tensor> e : targets.entrySet()) {
                e.getValue().copy_(weights.view(e.getKey()));
                weights.evict(e.getKey()); // file pages out of RSS as we go: peak = model, not model + file
            }
        }
    }

    private static String report(String what, String source, List<String> missing, List<String> misshaped,
                                 TreeSet<String> unexpected) {
        StringBuilder sb = new StringBuilder();
        sb.append("the weights in ").append(source).append(" do not fit the ").append(what)
                .append(" built from its config.json");
        appendList(sb, "missing", missing);
        appendList(sb, "wrong shape", misshaped);
        appendList(sb, "unexpected", new ArrayList<>(unexpected));
        sb.append("\nCheck that the weights file and config.json belong to the same model.");
        return sb.toString();
    }

    private static void appendList(StringBuilder sb, String label, List<String> keys) {
        if (keys.isEmpty()) return;
        sb.append("\n  ").append(label).append(" (").append(keys.size()).append("): ");
        int shown = Math.min(keys.size(), 10);
        sb.append(String.join(", ", keys.subList(0, shown)));
        if (keys.size() > shown) sb.append(", ... (").append(keys.size() - shown).append(" more)");
    }
}
