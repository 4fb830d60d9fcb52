package jdiffusion.pipelines;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.io.DType;
import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * How a pipeline is loaded: the compute dtype (weights are converted once, at load), the device,
 * the weights variant to read ({@code fp16} picks {@code *.fp16.safetensors}; null the plain files),
 * a VAE to use instead of the model's own (a diffusers VAE folder or a single file, see
 * {@link jdiffusion.models.vae.ExternalVAE}; null keeps the model's), and textual-inversion
 * embeddings whose tokens every prompt may use (A1111 loads its embeddings folder the same way).
 */
public record PipelineOptions(ScalarType dtype, Device device, String variant, Path vae, List<Path> embeddings) {
    public PipelineOptions {
        if (dtype == null) dtype = ScalarType.Float;
        if (device == null) device = Tensors.CPU;
        embeddings = embeddings == null ? List.of() : List.copyOf(embeddings);
    }

    public PipelineOptions(ScalarType dtype, Device device, String variant) {
        this(dtype, device, variant, null, List.of());
    }

    /** The same options with another VAE (a folder or a file). */
    public PipelineOptions withVae(Path vae) {
        return new PipelineOptions(dtype, device, variant, vae, embeddings);
    }

    /** The same options with textual-inversion files (safetensors, or folders holding learned_embeds.safetensors). */
    public PipelineOptions withEmbeddings(List<Path> files) {
        return new PipelineOptions(dtype, device, variant, vae, files);
    }

    /** fp32 on the CPU, the plain weight files: diffusers' defaults and the exact path. */
    public static PipelineOptions defaults() {
        return new PipelineOptions(ScalarType.Float, Tensors.CPU, null);
    }

    /** From CLI spellings: dtype fp32/bf16/fp16 or auto ({@link #autoDtype}), device cpu/cuda[:N]. */
    public static PipelineOptions of(String dtype, String device, String variant) {
        Device dev = device == null || device.equals("cpu") ? Tensors.CPU : new Device(device);
        ScalarType d = "auto".equalsIgnoreCase(dtype) ? autoDtype(dev, CpuClass.current()) : DType.parseFloat(dtype).scalarType();
        return new PipelineOptions(d, dev, variant);
    }

    /**
     * {@code --dtype auto}: the faster dtype whose images stay close to float32's. On a CPU with
     * native bf16 ({@link CpuClass#nativeBf16}: AMX, or AVX-512 BF16 with attention kept in float32)
     * bf16 (1.5-4x faster UNet steps, docs/speed.md); on other CPUs float32 (bf16 is emulated
     * there); on CUDA fp16, as diffusers users run it.
     */
    public static ScalarType autoDtype(Device device, CpuClass cpu) {
        if (!device.is_cpu()) return ScalarType.Half;
        return cpu.nativeBf16() ? ScalarType.BFloat16 : ScalarType.Float;
    }
}
