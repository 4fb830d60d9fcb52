package jdiffusion.tools.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident memory of this process from /proc/self/status (Linux); -1 elsewhere. */
final class ProcessMemory {
    private ProcessMemory() {}

    /** VmRSS: resident now, in bytes. */
    static long residentBytes() {
        return field("VmRSS:");
    }

    /** VmHWM: the peak resident size, in bytes. */
    static long peakResidentBytes() {
        return field("VmHWM:");
    }

    /**
     * Sets the peak back to the current resident size (writing 5 to clear_refs, Linux 4.0+), so
     * each benchmark run reports its own peak. Returns false where that is not allowed.
     */
    static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(name)) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
