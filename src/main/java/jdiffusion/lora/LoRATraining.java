package jdiffusion.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdiffusion.JDiffusionException;
import jdiffusion.io.SafetensorsWriter;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.nn.JavaModule;
import jdiffusion.nn.Layers;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Trainable low-rank adapters beside frozen weights, as diffusers' train_dreambooth_lora.py (0.31)
 * sets them up with PEFT: {@code LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
 * target_modules=[...])}. Each adapted linear computes {@code W x + b + (alpha / r) B (A x)} with
 * A [r, in] drawn from N(0, (1/r)^2) (PEFT's "gaussian" init) and B [out, r] zero, so training
 * starts from the base model exactly. Targets: the UNet's attention projections {@code to_q, to_k,
 * to_v, to_out.0} (attn1 and attn2 of every transformer block; the script's {@code add_k_proj,
 * add_v_proj} exist only in added-KV attention, which SD has none of), and, when a text encoder is
 * given, its {@code q_proj, k_proj, v_proj, out_proj}.
 *
 * <pre>{@code
 * try (LoRATraining lora = LoRATraining.attach(unet, null, 4, 4, seed)) {
 *     Trainer trainer = new Trainer(config, lora.parameters(), checkpoint);
 *     ...
 *     lora.save(outputDir.resolve("pytorch_lora_weights.safetensors"));
 * }
 * }</pre>
 *
 * <p>The adapters hang on the models' {@link Layers.Linear} layers (not registered as modules), so
 * the models' own named_parameters() and checkpoints are unchanged, and a layer without an
 * adapter computes exactly as before.
 *
 * <p>Attaching takes the models out of shared use until {@link #close}: the adapters sit on the
 * layers themselves, so every forward of these models, from any thread, goes through them. A model
 * that serves concurrent requests must not be attached to; adapters per call would be keyed by a
 * {@code ScopedValue} instead, as {@code OpObserver} keys its observer.
 */
public final class LoRATraining implements AutoCloseable {
    /** train_dreambooth_lora.py's UNet target_modules, matched as PEFT does (the name or a ".name" suffix). */
    public static final List<String> UNET_TARGETS = List.of("to_k", "to_q", "to_v", "to_out.0");
    /** Its text encoder target_modules. */
    public static final List<String> TEXT_ENCODER_TARGETS = List.of("q_proj", "k_proj", "v_proj", "out_proj");

    /*
     * File names, as checked in diffusers' sources (examples/dreambooth/train_dreambooth_lora.py,
     * utils/state_dict_utils.py, loaders/lora_base.py): the script saves
     * convert_state_dict_to_diffusers(get_peft_model_state_dict(model)) through
     * StableDiffusionLoraLoaderMixin.save_lora_weights, whose pack_weights prefixes "unet." /
     * "text_encoder." and whose write_lora_layers calls safetensors' save_file(...,
     * metadata={"format": "pt"}). get_peft_model_state_dict gives "<module>.lora_A.weight" / "lora_B"; the
     * PEFT_TO_DIFFUSERS table of diffusers/utils/state_dict_utils.py then renames
     * "to_q.lora_A" -> "to_q.lora.down" (likewise to_k, to_v, to_out.0; lora_B -> lora.up) and
     * ".q_proj.lora_A" -> ".q_proj.lora_linear_layer.down" (likewise k_proj, v_proj, out_proj), e.g.
     *   unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight
     *   text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight
     * No alpha entries: diffusers loads such a file with alpha = r.
     */
    private static final String UNET_DOWN = ".lora.down.weight";
    private static final String UNET_UP = ".lora.up.weight";
    private static final String TEXT_DOWN = ".lora_linear_layer.down.weight";
    private static final String TEXT_UP = ".lora_linear_layer.up.weight";

    /** One adapted layer: the keys of its two factors in the file, the layer, and the adapter on it. */
    private record Adapted(String downKey, String upKey, Layers.Linear linear, LoRALinear lora) {}

    private final int rank;
    private final double alpha;
    private final List<Adapted> adapted;
    private final Map<String, Tensor> parameters;
    private boolean closed;

    private LoRATraining(int rank, double alpha, List<Adapted> adapted) {
        this.rank = rank;
        this.alpha = alpha;
        this.adapted = List.copyOf(adapted);
        Map<String, Tensor> p = new LinkedHashMap<>();
        for (Adapted a : adapted) {
            p.put(a.downKey(), a.lora().down);
            p.put(a.upKey(), a.lora().up);
        }
        this.parameters = Collections.unmodifiableMap(p);
    }

    /**
     * Adds rank-{@code rank} adapters to {@code unet} (and {@code textEncoder} unless null). The
     * base weights are left as they are (and should be frozen by the caller: requires_grad false);
     * the adapters are float32 leaves requiring grad, on each layer's device. A is drawn from
     * {@code seed} (UNet layers first, in module order). Call outside any PointerScope.
     *
     * @param alpha the LoRA alpha; the update is scaled by alpha / rank (the script uses alpha = rank)
     */
    public static LoRATraining attach(UNet2DConditionModel unet, CLIPTextModel textEncoder, int rank, double alpha,
                                      long seed) {
        if (unet == null) throw new JDiffusionException("LoRA training needs a UNet");
        if (rank < 1) throw new JDiffusionException("the LoRA rank must be at least 1, got " + rank);
        if (!(alpha > 0) || !Double.isFinite(alpha)) {
            throw new JDiffusionException("the LoRA alpha must be a positive number, got " + alpha
                    + " (diffusers' scripts use alpha = rank)");
        }
        List<Target> targets = new ArrayList<>(targets(unet, "unet.", UNET_TARGETS, UNET_DOWN, UNET_UP));
        if (textEncoder != null) {
            targets.addAll(targets(textEncoder, "text_encoder.", TEXT_ENCODER_TARGETS, TEXT_DOWN, TEXT_UP));
        }
        if (targets.isEmpty()) throw new JDiffusionException("the UNet has no attention layers to put LoRA adapters on");
        for (Target t : targets) {
            if (t.linear().adapter() != null) {
                throw new JDiffusionException(t.downKey() + " already has an adapter: close the previous "
                        + "LoRATraining on this model before attaching another");
            }
        }
        TorchGenerator generator = new TorchGenerator(seed);
        List<Adapted> adapted = new ArrayList<>();
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            for (Target t : targets) {
                Layers.Linear linear = t.linear();
                Tensor weight = linear.weight(); // [out, in]
                // PEFT's init_lora_weights="gaussian": A ~ N(0, 1/r^2), B = 0
                Tensor down = generator.randn(rank, linear.inFeatures()).mul(new Scalar(1.0 / rank))
                        .to(weight.device(), ScalarType.Float);
                Tensor up = down.new_zeros(linear.outFeatures(), rank);
                down.requires_grad_(true);
                up.requires_grad_(true);
                down.retainReference(); // both outlive this scope (and any caller's); released by close()
                up.retainReference();
                adapted.add(new Adapted(t.downKey(), t.upKey(), linear, new LoRALinear(down, up, alpha / rank)));
            }
        } catch (RuntimeException e) {
            adapted.forEach(LoRATraining::release);
            throw e;
        }
        for (Adapted a : adapted) a.linear().setAdapter(a.lora());
        return new LoRATraining(rank, alpha, adapted);
    }

    private record Target(String downKey, String upKey, Layers.Linear linear) {}

    /**
     * The layers of {@code model} whose name is a target or ends with "." + a target (PEFT's rule
     * for a list of target_modules), in module order.
     */
    private static List<Target> targets(JavaModule model, String prefix, List<String> names, String down, String up) {
        List<Target> out = new ArrayList<>();
        model.namedModules().forEach((name, module) -> {
            if (names.stream().noneMatch(t -> name.equals(t) || name.endsWith("." + t))) return;
            if (!(module instanceof Layers.Linear linear)) {
                throw new IllegalStateException(prefix + name + " is not built with Layers.linear; LoRA cannot adapt it");
            }
            out.add(new Target(prefix + name + down, prefix + name + up, linear));
        });
        return out;
    }

    public int rank() {
        return rank;
    }

    public double alpha() {
        return alpha;
    }

    /**
     * The trainable tensors by the names they get in the saved file, e.g.
     * {@code unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight}
     * (A) and {@code ...to_q.lora.up.weight} (B): live leaves, valid until {@link #close}.
     */
    public Map<String, Tensor> parameters() {
        requireOpen();
        return parameters;
    }

    /**
     * Writes {@code pytorch_lora_weights.safetensors} in the layout diffusers'
     * {@code save_lora_weights} writes and {@code load_lora_weights} reads (atomically): float32,
     * metadata {@code {"format": "pt"}}, no alpha entries (diffusers then applies alpha = r). When
     * alpha differs from the rank, the factor alpha / r is folded into the up matrices, so the file
     * applies exactly the update trained.
     */
    public void save(Path file) {
        requireOpen();
        if (!file.getFileName().toString().endsWith(".safetensors")) {
            throw new JDiffusionException("LoRA weights are saved as .safetensors (diffusers reads "
                    + "pytorch_lora_weights.safetensors); " + file + " has another extension");
        }
        try (PointerScope scope = new PointerScope(); NoGradGuard noGrad = new NoGradGuard()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Adapted a : adapted) {
                double scaling = a.lora().scaling;
                tensors.put(a.downKey(), a.lora().down.detach());
                Tensor up = a.lora().up.detach();
                tensors.put(a.upKey(), scaling == 1.0 ? up : up.mul(new Scalar(scaling)));
            }
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        }
    }

    /** Removes the adapters: the models compute exactly as before {@link #attach}. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Adapted a : adapted) {
            if (a.linear().adapter() == a.lora()) a.linear().setAdapter(null);
            release(a);
        }
    }

    private static void release(Adapted a) {
        a.lora().down.releaseReference();
        a.lora().up.releaseReference();
    }

    private void requireOpen() {
        if (closed) throw new IllegalStateException("this LoRATraining is closed: its adapters were removed");
    }
}
