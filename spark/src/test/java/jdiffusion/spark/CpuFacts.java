package jdiffusion.spark;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The CPU a figure was measured on: model name and whether it has AMX (oneDNN's bf16/int8 tiles). */
final class CpuFacts {
    private CpuFacts() {}

    static String cpu() {
        try {
            String info = Files.readString(Path.of("/proc/cpuinfo"));
            String model = info.lines().filter(l -> l.startsWith("model name")).findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
            boolean amx = info.contains(" amx_tile");
            return model + ", " + Runtime.getRuntime().availableProcessors() + " CPUs, AMX " + (amx ? "yes" : "no");
        } catch (IOException e) {
            return "unknown CPU";
        }
    }
}
