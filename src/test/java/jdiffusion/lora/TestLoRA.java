package jdiffusion.lora;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.io.TorchSave;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import jdiffusion.weights.LoRAKeyMap.Component;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;

/**
 * LoRA modules with known weights, written in the layouts the trainers use. Tensors are made
 * outside any PointerScope and live for the test class.
 *
 * @param module the weight's module path in our (diffusers) names, without ".weight"
 * @param down   A [r, in(, kh, kw)]
 * @param up     B [out, r(, 1, 1)]
 */
record TestLoRA(Component component, String module, Tensor down, Tensor up, double alpha) {
    /** Random factors (seeded), large enough to move the output visibly. */
    static TestLoRA random(Component c, String module, long seed, long[] downShape, long[] upShape, double alpha) {
        TorchGenerator g = new TorchGenerator(seed);
        return new TestLoRA(c, module, g.randn(downShape).mul(new Scalar(0.3)), g.randn(upShape).mul(new Scalar(0.3)), alpha);
    }

    static TestLoRA linear(Component c, String module, long seed, long out, long in, long rank, double alpha) {
        return random(c, module, seed, new long[] {rank, in}, new long[] {out, rank}, alpha);
    }

    long rank() {
        return down.size(0);
    }

    enum Layout { KOHYA, KOHYA_LDM, PEFT, DIFFUSERS_PROCESSOR }

    static Path write(Path file, Layout layout, List<TestLoRA> modules) {
        SafetensorsWriter.write(file, tensors(layout, modules), Map.of("format", "pt"));
        return file;
    }

    /**
     * The same LoRA saved with torch.save (zip format), as kohya's {@code .pt} and diffusers' older
     * {@code pytorch_lora_weights.bin} are: a state dict (an OrderedDict) of the same tensors,
     * kohya's alpha a 0-d tensor as its module's buffer is.
     */
    static Path writePickle(Path file, Layout layout, List<TestLoRA> modules) {
        try {
            return TorchSave.zip(file, new TorchSave.Ordered(tensors(layout, modules)));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The file's entries in {@code layout}. */
    static Map<String, Tensor> tensors(Layout layout, List<TestLoRA> modules) {
        Map<String, Tensor> t = new LinkedHashMap<>();
        for (TestLoRA m : modules) {
            switch (layout) {
                case KOHYA, KOHYA_LDM -> {
                    String path = layout == Layout.KOHYA_LDM ? ldm(m.module) : m.module;
                    String stem = (m.component == Component.UNET ? "lora_unet_" : "lora_te_") + path.replace('.', '_');
                    t.put(stem + ".lora_down.weight", m.down);
                    t.put(stem + ".lora_up.weight", m.up);
                    t.put(stem + ".alpha", Tensors.fromFloats(new float[] {(float) m.alpha}));
                }
                case PEFT -> {
                    // PEFT files carry no alpha: diffusers applies them with alpha = r
                    String p = (m.component == Component.UNET ? "unet." : "text_encoder.") + m.module;
                    t.put(p + ".lora_A.weight", m.down);
                    t.put(p + ".lora_B.weight", m.up);
                }
                case DIFFUSERS_PROCESSOR -> {
                    int dot = m.module.lastIndexOf('.');
                    String p = "unet." + m.module.substring(0, dot) + ".processor." + m.module.substring(dot + 1) + "_lora";
                    t.put(p + ".down.weight", m.down);
                    t.put(p + ".up.weight", m.up);
                }
            }
        }
        return t;
    }

    /** The LDM spelling of the tiny UNet's first down-block attention (input_blocks.1.1 = down_blocks.0.attentions.0). */
    private static String ldm(String module) {
        String prefix = "down_blocks.0.attentions.0.";
        if (!module.startsWith(prefix)) throw new IllegalArgumentException("no LDM spelling for " + module + " in this test");
        return "input_blocks.1.1." + module.substring(prefix.length());
    }
}
