package jdiffusion.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** What the benchmark reports about the CPU: model name, physical cores, bf16 support, load (Linux /proc and /sys). */
final class Cpu {
    private Cpu() {}

    static String modelName() {
        for (String line : lines(Path.of("/proc/cpuinfo"))) {
            if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).trim();
        }
        return System.getProperty("os.arch");
    }

    /**
     * Physical cores among the CPUs this process may use: hyperthread siblings share one core,
     * and two threads on one core only compete for its vector units.
     */
    static int physicalCores() {
        int logical = Runtime.getRuntime().availableProcessors();
        Set<String> cores = new HashSet<>();
        for (int cpu = 0; cpu < 4096 && cores.size() < logical; cpu++) {
            Path siblings = Path.of("/sys/devices/system/cpu/cpu" + cpu + "/topology/thread_siblings_list");
            if (!Files.exists(siblings)) {
                if (cpu > 0 && !Files.exists(Path.of("/sys/devices/system/cpu/cpu" + cpu))) break;
                continue;
            }
            List<String> l = lines(siblings);
            if (!l.isEmpty()) cores.add(l.getFirst().trim());
        }
        return cores.isEmpty() ? logical : Math.min(cores.size(), logical);
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
