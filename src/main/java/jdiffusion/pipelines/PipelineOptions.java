package jdiffusion.pipelines;

import java.nio.file.Path;
import java.util.List;
import jdiffusion.JDiffusionException;
import jdiffusion.io.DType;
import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.Tensors;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
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
        Device dev = device(device);
        ScalarType d = "auto".equalsIgnoreCase(dtype) ? autoDtype(dev, CpuClass.current()) : DType.parseFloat(dtype).scalarType();
        return new PipelineOptions(d, dev, variant);
    }

    /**
     * {@code cpu}, {@code cuda} or {@code cuda:N}, checked before anything is loaded: on the CPU
     * build libtorch would fail deep inside the first {@code to(device)} with a native stack trace.
     */
    public static Device device(String name) {
        if (name == null || name.equals("cpu")) return Tensors.CPU;
        if (!name.matches("cuda(:\\d{1,3})?")) {
            throw new JDiffusionException("--device must be cpu, cuda or cuda:N, not " + name);
        }
        if (!torch.cuda_is_available()) {
            throw new JDiffusionException("--device " + name + ": this build of jdiffusion has no CUDA (libtorch for the CPU), or"
                    + " no CUDA GPU is visible; build the CUDA one with `./mvnw -Pcuda package` on a machine with an NVIDIA driver");
        }
        int index = name.contains(":") ? Integer.parseInt(name.substring(5)) : 0;
        int count = torch.cuda_device_count();
        if (index >= count) {
            throw new JDiffusionException("--device " + name + ": there " + (count == 1 ? "is 1 CUDA GPU (cuda:0)"
                    : "are " + count + " CUDA GPUs (cuda:0 to cuda:" + (count - 1) + ")"));
        }
        return new Device(name);
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
