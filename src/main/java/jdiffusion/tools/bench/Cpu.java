package jdiffusion.tools.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import jdiffusion.tensor.NativeThreads;

/** What the benchmark reports about the CPU: model name, physical cores, bf16 support, load (Linux /proc and /sys). */
final class Cpu {
    private Cpu() {}

    static String modelName() {
        for (String line : lines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
        }
        return System.getProperty("os.arch");
    }

    static int physicalCores() {
        return NativeThreads.physicalCores();
    }

    /** AVX-512 BF16 or AMX-BF16: oneDNN then runs bf16 convolutions and matmuls natively. */
    static boolean hasBf16() {
        for (String line : lines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("flags")) return line.contains(" avx512_bf16") || line.contains(" amx_bf16");
        }
        return false;
    }

    /** The 1, 5 and 15 minute load averages (other work on the machine disturbs the timings). */
    static double[] loadAverage() {
        List<String> l = lines(Path.of("/proc/loadavg"));
        if (l.isEmpty()) return new double[0];
        String[] f = l.getFirst().split("\\s+");
        return new double[] {Double.parseDouble(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2])};
    }

    private static List<String> lines(Path p) {
        try {
            return Files.readAllLines(p);
        } catch (IOException e) {
            return List.of();
        }
    }
}
