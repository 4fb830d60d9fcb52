package jdiffusion.models;

import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;
import jdiffusion.JDiffusionException;
import jdiffusion.nn.ChannelsLast;
import jdiffusion.tensor.NativeMemory;
import jdiffusion.weights.StateDict;
import jdiffusion.weights.WeightLoader;
import jdiffusion.weights.WeightSource;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** The steps the UNet and VAE loaders share: guards, dtype/device conversion, strict weight copy. */
public final class ModelLoading {
    private ModelLoading() {}

    /**
     * Models must be built outside any {@link PointerScope}: a scope would free the Java handles of
     * the layers when it closes while the model still uses them. Called first by model constructors.
     */
    public static void requireNoPointerScope(String what) {
        if (PointerScope.getInnerScope() != null) {
            throw new IllegalStateException("build or load the " + what + " outside any PointerScope: "
                    + "closing the scope would free the model's layers; open scopes only around forward calls");
        }
    }

    /**
     * {@code module} converted to {@code dtype} (a no-op for float32, libtorch's construction dtype),
     * the float32 copy's memory handed back to the OS at once: glibc would otherwise keep it and
     * the next layer's float32 build would take fresh pages beside it.
     */
    public static <M extends Module> M in(ScalarType dtype, M module) {
        if (dtype.value != ScalarType.Float.value) {
            module.to(dtype, false);
            NativeMemory.trim();
        }
        return module;
    }

    /** The compute dtypes a model can be converted to. */
    public static void requireFloatingDtype(ScalarType dtype, String what) {
        int v = dtype.value;
        if (v != ScalarType.Float.value && v != ScalarType.BFloat16.value && v != ScalarType.Half.value
                && v != ScalarType.Double.value) {
            throw new JDiffusionException("the " + what + " computes in Float, BFloat16 or Half, not " + dtype);
        }
    }

    /**
     * The once-at-load steps after the weights are in: eval mode and, on the CPU, for bf16/fp16,
     * channels-last convolution weights ({@link ChannelsLast}: oneDNN's layout; inputs follow at
     * each forward). fp32 stays NCHW: there channels-last was 15% slower (SD 1.5 UNet, 256x256,
     * interleaved runs) and NCHW is the layout the goldens were made in.
     */
    /**
     * A model whose convolutions run faster channels-last on the CPU in float32 too (the VAE: decode
     * at 256x256 4.52 s vs 4.87 s NCHW), so every load path lays it out the same way.
     */
    public interface ChannelsLastInFloat32 {}

    public static void prepareForInference(Module model, Device device, ScalarType dtype) {
        model.eval();
        if (device.is_cpu()) {
            if (dtype.value == ScalarType.BFloat16.value || dtype.value == ScalarType.Half.value
                    || model instanceof ChannelsLastInFloat32) {
                ChannelsLast.convertWeights(model);
            }
        }
        NativeMemory.trim(); // the float32 construction and the conversions leave freed blocks behind
    }

    /**
     * Converts {@code model} to {@code dtype} on {@code device}, then copies {@code files} into it
     * (each tensor converted once on the way). Closes the model when anything fails.
     */
    public static void loadWeights(Module model, List<Path> files, UnaryOperator<String> keyMap, ScalarType dtype,
                                   Device device, String what) {
        loadWeights(model, new WeightSource(files, () -> StateDict.open(files, keyMap)), dtype, device, what);
    }

    /** As above, from {@code source} (opened here, closed after the copy). */
    public static void loadWeights(Module model, WeightSource source, ScalarType dtype, Device device, String what) {
        StateDict weights;
        try {
            weights = source.open();
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
        // closed after the copy: the model's weights are copies, not views of the mapping
        try (weights) {
            loadWeights(model, weights, dtype, device, what);
        }
    }

    /** As above, from a state dict the caller keeps open (and closes). Closes the model when anything fails. */
    public static void loadWeights(Module model, StateDict weights, ScalarType dtype, Device device, String what) {
        try {
            model.to(device, dtype, false);
            // views and temporaries are released before the caller closes the mapping
            try (PointerScope scope = new PointerScope()) {
                WeightLoader.load(model, weights, what);
            }
            prepareForInference(model, device, dtype);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }
}
