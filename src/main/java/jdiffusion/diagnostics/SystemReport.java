package jdiffusion.diagnostics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdiffusion.tensor.ConvolutionBackends;
import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.NativeThreads;
import org.bytedeco.pytorch.global.torch;

/**
 * What a bug report about numbers or speed needs to say about the machine: the CPU and the
 * vector extensions oneDNN chooses its kernels by (AMX or not above all), the libtorch and oneDNN
 * versions, and the thread and allocator settings. Linux {@code /proc} for the CPU.
 *
 * <pre>{@code
 * SystemReport.collect().forEach((k, v) -> System.out.println(k + ": " + v));
 * }</pre>
 */
public final class SystemReport {
    private static final String[] ISA_FLAGS = {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
            "amx_tile", "amx_bf16", "amx_int8"};
    private static final String[] ENVIRONMENT = {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS",
            "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "GLIBC_TUNABLES"};

    private SystemReport() {}

    /** The report's lines, in order: name -> value. */
    public static Map<String, String> collect() {
        Map<String, String> r = new LinkedHashMap<>();
        List<String> flags = cpuFlags();
        r.put("CPU", cpuModel() + " (" + Runtime.getRuntime().availableProcessors() + " logical CPUs, "
                + NativeThreads.physicalCores() + " physical cores)");
        List<String> present = new ArrayList<>();
        for (String f : ISA_FLAGS) if (flags.contains(f)) present.add(f);
        r.put("vector extensions", present.isEmpty() ? "none of " + String.join(" ", ISA_FLAGS) : String.join(" ", present));
        r.put("CPU class", CpuClass.current() + (hasAmx(flags) && CpuClass.current() != CpuClass.AMX_BF16
                ? " (the CPU has AMX; ONEDNN_MAX_CPU_ISA keeps oneDNN off it)" : ""));
        String config = torch.show_config().getString();
        r.put("libtorch", find(config, "TORCH_VERSION=([^,\\s]+)") + ", built with " + find(config, "GCC ([\\d.]+)", "GCC "));
        r.put("oneDNN", find(config, "MKL-DNN (v[\\d.]+)"));
        r.put("libtorch CPU capability", find(config, "CPU capability usage: (\\S+)"));
        r.put("libtorch threads", torch.get_num_threads() + " intra-op");
        r.put("NNPACK", ConvolutionBackends.nnpackEnabled() ? "enabled" : "disabled (oneDNN only)");
        for (String e : ENVIRONMENT) {
            String v = System.getenv(e);
            if (v != null) r.put(e, v);
        }
        r.put("Java", Runtime.version() + " (" + System.getProperty("java.vendor") + "), "
                + System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        return r;
    }

    /** Whether the CPU has AMX tiles, which take oneDNN onto its brgemm/AMX kernels. */
    public static boolean hasAmx() {
        return hasAmx(cpuFlags());
    }

    private static boolean hasAmx(List<String> flags) {
        return flags.contains("amx_tile");
    }

    /** {@code model name} from /proc/cpuinfo, or the architecture where there is none. */
    public static String cpuModel() {
        for (String line : cpuinfo()) {
            if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
        }
        return System.getProperty("os.arch");
    }

    private static List<String> cpuFlags() {
        for (String line : cpuinfo()) {
            if (line.startsWith("flags")) return List.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+"));
        }
        return List.of();
    }

    private static List<String> cpuinfo() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo"));
        } catch (IOException e) {
            return List.of();
        }
    }

    private static String find(String text, String regex) {
        return find(text, regex, "");
    }

    private static String find(String text, String regex, String prefix) {
        Matcher m = Pattern.compile(regex).matcher(text);
        return m.find() ? prefix + m.group(1) : "unknown";
    }
}
