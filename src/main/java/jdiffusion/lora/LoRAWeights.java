package jdiffusion.lora;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import jdiffusion.JDiffusionException;
import jdiffusion.io.RestrictedUnpickler;
import jdiffusion.tensor.Tensors;
import jdiffusion.weights.LoRAKeyMap;
import jdiffusion.weights.LoRAKeyMap.Component;
import jdiffusion.weights.LoRAKeyMap.Key;
import jdiffusion.weights.LoRAKeyMap.Layout;
import jdiffusion.weights.LoRAKeyMap.Part;
import jdiffusion.weights.LoRAKeyMap.Target;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.TensorFiles;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A LoRA file read and checked against one model: for every weight it updates, the pair
 * down = A [r, in, (kh, kw)] and up = B [out, r, (1, 1)] and alpha, so that the update is
 * {@code ΔW = scale · (alpha / r) · B @ A} (reshaped to the weight), as in the LoRA paper, kohya's
 * networks/lora.py and PEFT ({@code lora_alpha / r}). A file without alphas (diffusers' own) has
 * alpha = r: scale 1, as diffusers applies it.
 *
 * <p>Files: safetensors, or PyTorch pickles ({@code .pt}, {@code .ckpt}, diffusers' older
 * {@code pytorch_lora_weights.bin}) read through {@link RestrictedUnpickler}, which runs nothing;
 * both go through the same mapping and checks ({@link TensorFiles}).
 *
 * <p>Layouts: kohya and diffusers/PEFT (see {@link LoRAKeyMap}); LoCon convolution LoRAs (kohya's
 * 1x1 and 3x3 kernels on resnet convs, proj_in/proj_out) included. The policy on names is strict:
 * one entry that does not name a weight of this model fails the whole file, listing a few of them,
 * because a half-applied LoRA gives a plausible but wrong image and nobody notices.
 *
 * <p>The tensors are copied out of the file (in its dtype, on the CPU) when read; {@link #close} frees them.
 * Read outside any PointerScope.
 */
public final class LoRAWeights implements AutoCloseable {
    /**
     * One low-rank update of one weight.
     *
     * @param source the module's name in the file, for messages
     * @param down   A [r, in] or [r, in, kh, kw], in the file's dtype
     * @param up     B [out, r] or [out, r, 1, 1], in the file's dtype
     * @param alpha  the file's alpha, or r when it has none
     * @param targetShape the weight's shape
     */
    public record Module(Target target, String source, Tensor down, Tensor up, double alpha, long[] targetShape) {
        public long rank() {
            return down.size(0);
        }

        /**
         * {@code scale · (alpha / r) · B @ A} as a float32 tensor of the weight's shape, on {@code device}.
         * The factor is applied after the product, as kohya and A1111 do.
         */
        public Tensor delta(double scale, org.bytedeco.pytorch.Device device) {
            return factors(device).rows(scale, 0, targetShape[0]).reshape(targetShape);
        }

        /** The factors in float32 on {@code device}, for forming the update a block of rows at a time. */
        public Factors factors(org.bytedeco.pytorch.Device device) {
            long r = rank();
            return new Factors(up.to(device, ScalarType.Float).reshape(up.size(0), r),
                    down.to(device, ScalarType.Float).reshape(r, -1), alpha / r);
        }
    }

    /**
     * A module's factors in float32: B [out, r], A [r, in*kh*kw] and alpha / r.
     */
    public record Factors(Tensor up, Tensor down, double alphaOverRank) {
        /**
         * Rows {@code first ... first+count-1} of {@code scale · (alpha / r) · B @ A}, [count, in*kh*kw]
         * float32: the update's output channels from {@code first} on. The factor is applied after
         * the product, as kohya and A1111 do.
         */
        public Tensor rows(double scale, long first, long count) {
            return up.narrow(0, first, count).mm(down).mul_(new Scalar(scale * alphaOverRank)); // in place: one buffer
        }
    }

    private final Path file;
    private final Layout layout;
    private final List<Module> modules;
    private boolean closed;

    private LoRAWeights(Path file, Layout layout, List<Module> modules) {
        this.file = file;
        this.layout = layout;
        this.modules = List.copyOf(modules);
    }

    /**
     * Reads {@code file} and maps every entry to a weight of the model {@code index} and
     * {@code shapes} describe. Throws naming the file and the entries when any entry is unknown,
     * unsupported, incomplete, or of the wrong shape.
     *
     * @param shapes the shapes of the models' weights by component and name
     */
    public static LoRAWeights read(Path file, LoRAKeyMap.Index index, Map<Component, Map<String, long[]>> shapes) {
        if (!Files.isRegularFile(file)) throw new JDiffusionException("LoRA file " + file + " does not exist");
        StateDict tensors;
        try {
            tensors = TensorFiles.open(file);
        } catch (RestrictedUnpickler.RefusedException e) {
            throw new JDiffusionException("LoRA " + e.getMessage() + ". For a LoRA: save_file(torch.load(file),"
                    + " 'x.safetensors') in Python (safetensors.torch), or have kohya's sd-scripts or diffusers save it"
                    + " as .safetensors", e);
        } catch (JDiffusionException e) {
            throw new JDiffusionException("LoRA " + e.getMessage(), e); // a damaged or foreign file
        }
        try (tensors) {
            return read(tensors, file, index, shapes);
        }
    }

    /** The mapping and checks, the same for safetensors and pickle files. */
    private static LoRAWeights read(StateDict f, Path file, LoRAKeyMap.Index index, Map<Component, Map<String, long[]>> shapes) {
        // 1. every key understood, or the file is refused with a list of what is not
        Map<Target, Map<Part, String>> parts = new LinkedHashMap<>();
        Map<Target, String> sources = new LinkedHashMap<>();
        TreeSet<String> unknown = new TreeSet<>();
        Map<String, String> unsupported = new LinkedHashMap<>();
        boolean kohya = false;
        boolean diffusers = false;
        for (String key : f.keys()) {
            String why = LoRAKeyMap.unsupported(key);
            if (why != null) {
                unsupported.putIfAbsent(why, key);
                continue;
            }
            Key k = LoRAKeyMap.parse(key);
            Target t = k == null ? null : index.resolve(k);
            if (t == null) {
                unknown.add(key);
                continue;
            }
            kohya |= k.layout() == Layout.KOHYA;
            diffusers |= k.layout() == Layout.DIFFUSERS;
            String previous = parts.computeIfAbsent(t, x -> new LinkedHashMap<>()).put(k.part(), key);
            if (previous != null) {
                throw new JDiffusionException("LoRA " + file + ": " + previous + " and " + key + " both give the "
                        + k.part().name().toLowerCase() + " of " + t.weight() + "; the file mixes two spellings");
            }
            sources.putIfAbsent(t, k.layout() == Layout.KOHYA ? k.module() : k.component() + " " + k.module());
        }
        String xl = unsupported.keySet().stream().filter(w -> w.contains("SDXL")).findFirst().orElse(null);
        if (xl != null) {
            throw new JDiffusionException("LoRA " + file + " is an SDXL LoRA (it has entries for a second text encoder, e.g. "
                    + unsupported.get(xl) + "); this model is SD 1.x/2.x");
        }
        if (!unsupported.isEmpty()) {
            var e = unsupported.entrySet().iterator().next();
            throw new JDiffusionException("LoRA " + file + " uses " + String.join(", ", unsupported.keySet())
                    + " (e.g. " + e.getValue() + "), which jdiffusion does not apply; plain LoRA and LoCon are supported");
        }
        if (!unknown.isEmpty()) {
            throw new JDiffusionException("LoRA " + file + ": " + unknown.size() + " of " + f.keys().size()
                    + " entries name no weight of this model (" + sample(unknown) + "). "
                    + (parts.isEmpty() ? "Nothing matched: it is not a LoRA in the kohya or diffusers layout, or it is for another architecture."
                    : "It is probably a LoRA for another architecture."));
        }
        if (parts.isEmpty()) throw new JDiffusionException("LoRA " + file + " holds no LoRA weights");

        // 2. each module complete and shaped to fit its weight; tensors copied out of the mapping
        List<Module> modules = new ArrayList<>();
        try (PointerScope temporaries = new PointerScope()) {
            for (Map.Entry<Target, Map<Part, String>> e : parts.entrySet()) {
                modules.add(module(f, file, e.getKey(), sources.get(e.getKey()), e.getValue(),
                        shapes.get(e.getKey().component()).get(e.getKey().weight())));
            }
        } catch (RuntimeException ex) {
            modules.forEach(LoRAWeights::free);
            throw ex;
        }
        Layout layout = kohya && !diffusers ? Layout.KOHYA : Layout.DIFFUSERS;
        return new LoRAWeights(file, layout, modules);
    }

    private static Module module(StateDict f, Path file, Target target, String source, Map<Part, String> keys, long[] weight) {
        String where = "LoRA " + file + ": " + source;
        String downKey = keys.get(Part.DOWN);
        String upKey = keys.get(Part.UP);
        if (downKey == null || upKey == null) {
            throw new JDiffusionException(where + " has " + (downKey == null ? "an up" : "a down")
                    + " matrix but no " + (downKey == null ? "down" : "up") + " matrix; the file is incomplete");
        }
        long[] down = f.shape(downKey);
        long[] up = f.shape(upKey);
        String shapes = "(down " + Tensors.shapeString(down) + ", up " + Tensors.shapeString(up) + ")";
        boolean downOk = down.length == 2 || down.length == 4;
        boolean upOk = up.length == 2 || up.length == 4 && up[2] == 1 && up[3] == 1;
        if (!downOk || !upOk || down[0] != up[1] || down[0] < 1) {
            throw new JDiffusionException(where + " " + shapes + " is not a pair of low-rank factors "
                    + "(down [r, in] or [r, in, kh, kw], up [out, r] or [out, r, 1, 1])");
        }
        if (!fits(down, up, weight)) {
            throw new JDiffusionException(where + " " + shapes + " does not fit " + target.component() + " weight "
                    + target.weight() + " " + Tensors.shapeString(weight)
                    + ": the LoRA was made for another model (e.g. SD 2.x instead of SD 1.x)");
        }
        double alpha = down[0]; // no alpha: scale 1 (diffusers' own files)
        String alphaKey = keys.get(Part.ALPHA);
        if (alphaKey != null) {
            if (f.info(alphaKey).numel() != 1) {
                throw new JDiffusionException(where + ": alpha " + alphaKey + " has shape "
                        + Tensors.shapeString(f.shape(alphaKey)) + "; expected one number");
            }
            alpha = f.view(alphaKey).to(ScalarType.Double).item_double();
            if (!Double.isFinite(alpha)) throw new JDiffusionException(where + ": alpha is " + alpha);
        }
        // kept beyond the reading scope (and any caller's): released by close()
        Tensor d = copyOut(f.view(downKey));
        Tensor u = copyOut(f.view(upKey));
        d.retainReference();
        u.retainReference();
        return new Module(target, source, d, u, alpha, weight.clone());
    }

    /**
     * A contiguous tensor of its own in the file's dtype: the view aliases the file, which is closed after
     * reading. Not float32 yet ({@link Module#factors} converts, exactly): LCM-LoRA's fp16 factors would take
     * 269 MB instead of 134 MB for as long as the LoRA is open.
     */
    private static Tensor copyOut(Tensor view) {
        return view.clone().contiguous();
    }

    /** B @ A reshaped must be the weight: a Linear [out, in], or a conv [out, in, kh, kw] (1x1 also from Linear factors). */
    private static boolean fits(long[] down, long[] up, long[] weight) {
        if (weight.length != 2 && weight.length != 4) return false;
        if (up[0] != weight[0]) return false;
        if (down.length == 4 && weight.length == 4) return down[1] == weight[1] && down[2] == weight[2] && down[3] == weight[3];
        long in = down.length == 4 ? down[1] * down[2] * down[3] : down[1];
        if (weight.length == 4 && (weight[2] != 1 || weight[3] != 1)) return false; // a 3x3 conv needs a 3x3 down
        if (down.length == 4 && (down[2] != 1 || down[3] != 1)) return false;
        return in == weight[1];
    }

    private static String sample(TreeSet<String> keys) {
        List<String> first = new ArrayList<>(keys).subList(0, Math.min(5, keys.size()));
        return String.join(", ", first) + (keys.size() > first.size() ? ", ..." : "");
    }

    private static void free(Module m) {
        m.down().releaseReference();
        m.up().releaseReference();
    }

    public Path file() {
        return file;
    }

    /** KOHYA when every entry is in kohya's layout, else DIFFUSERS. */
    public Layout layout() {
        return layout;
    }

    public List<Module> modules() {
        return modules;
    }

    /** The components this LoRA touches. */
    public boolean touches(Component c) {
        return modules.stream().anyMatch(m -> m.target().component() == c);
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        modules.forEach(LoRAWeights::free);
    }

    @Override
    public String toString() {
        return "LoRA " + file + " (" + layout + ", " + modules.size() + " weights, ranks "
                + new TreeSet<>(modules.stream().map(Module::rank).toList()) + ")";
    }
}
