package jdiffusion.tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What a CPU offers bf16 work, which decides the fast kernels (measured in docs/speed.md):
 * <ul>
 *   <li>{@link #AMX_BF16} - Intel Sapphire Rapids and later: oneDNN's AMX tiles; every bf16 op,
 *       attention included, is fast;</li>
 *   <li>{@link #AVX512_BF16} - AVX-512 with the bf16 dot product ({@code vdpbf16ps}) but no AMX,
 *       e.g. AMD Zen 4/5, Intel Cooper Lake: bf16 convolutions and matmuls are fast, libtorch's bf16
 *       {@code scaled_dot_product_attention} is not (it packs for AMX only);</li>
 *   <li>{@link #NO_NATIVE_BF16} - bf16 is emulated: float32 is the fast dtype.</li>
 * </ul>
 * Read from {@code /proc/cpuinfo} (Linux), capped by {@code ONEDNN_MAX_CPU_ISA} as oneDNN itself
 * caps the kernels it picks: {@code ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16} on an AMX machine runs the
 * code paths of a CPU without AMX. Elsewhere (no /proc/cpuinfo) the class is {@link #NO_NATIVE_BF16}.
 */
public enum CpuClass {
    AMX_BF16("AMX (bf16 tiles)"),
    AVX512_BF16("AVX-512 BF16, no AMX"),
    NO_NATIVE_BF16("no native bf16");

    private final String label;

    CpuClass(String label) {
        this.label = label;
    }

    /** This machine's class, read once (the CPU and the process environment do not change). */
    public static CpuClass current() {
        return Holder.CURRENT;
    }

    private static final class Holder {
        static final CpuClass CURRENT = detect(cpuFlags(), System.getenv("ONEDNN_MAX_CPU_ISA"));
    }

    /** True when bf16 convolutions and matmuls run natively (AMX or AVX-512 BF16). */
    public boolean nativeBf16() {
        return this != NO_NATIVE_BF16;
    }

    /**
     * The class for the flags of /proc/cpuinfo's {@code flags} line and a {@code ONEDNN_MAX_CPU_ISA}
     * value (null when unset). oneDNN's ISA names: ..., AVX512_CORE, AVX512_CORE_VNNI,
     * AVX512_CORE_BF16, AVX512_CORE_FP16, AVX512_CORE_AMX, AVX512_CORE_AMX_FP16, ALL (DEFAULT).
     */
    public static CpuClass detect(String flags, String maxIsa) {
        List<String> f = List.of((" " + flags + " ").trim().split("\\s+"));
        CpuClass hardware = f.contains("amx_bf16") && f.contains("amx_tile") ? AMX_BF16
                : f.contains("avx512_bf16") ? AVX512_BF16 : NO_NATIVE_BF16;
        if (maxIsa == null || maxIsa.isBlank()) return hardware;
        String isa = maxIsa.trim().toUpperCase(Locale.ROOT);
        CpuClass cap = isa.equals("ALL") || isa.equals("DEFAULT") || isa.contains("AMX") ? AMX_BF16
                : isa.equals("AVX512_CORE_BF16") || isa.equals("AVX512_CORE_FP16") ? AVX512_BF16 : NO_NATIVE_BF16;
        return hardware.ordinal() >= cap.ordinal() ? hardware : cap; // the lower of the two (enum order: best first)
    }

    /** The {@code flags} line of /proc/cpuinfo, or "" where there is none. */
    static String cpuFlags() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) return line.substring(line.indexOf(':') + 1);
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: nothing known about bf16
        }
        return "";
    }

    @Override
    public String toString() {
        return label;
    }
}
