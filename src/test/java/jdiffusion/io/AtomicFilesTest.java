package jdiffusion.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Outputs get the permissions the umask gives a new file, as any other program's outputs do. */
class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void aNewFileGetsTheUmaskMode() throws Exception {
        Set<PosixFilePermission> expected = modeUnderUmask(0666);
        Path out = dir.resolve("image.png");
        AtomicFiles.write(out, tmp -> Files.writeString(tmp, "new"));
        assertEquals(PosixFilePermissions.toString(expected), PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
    }

    @Test
    void overwritingAFileGivesItTheUmaskModeToo() throws Exception {
        Set<PosixFilePermission> expected = modeUnderUmask(0666);
        Path out = Files.writeString(dir.resolve("model.safetensors"), "old");
        Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rw-r--r--"));
        AtomicFiles.write(out, tmp -> Files.writeString(tmp, "new"));
        assertEquals("new", Files.readString(out));
        assertEquals(PosixFilePermissions.toString(expected), PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
    }

    @Test
    void aStagingFolderGetsTheUmaskMode() throws Exception {
        Set<PosixFilePermission> expected = modeUnderUmask(0777);
        Path folder = AtomicFiles.createBeside(dir.resolve("model"), true);
        assertEquals(PosixFilePermissions.toString(expected), PosixFilePermissions.toString(Files.getPosixFilePermissions(folder)));
    }

    @Test
    void aFailedWriteLeavesNoTemporaryFile() throws Exception {
        Path out = dir.resolve("never.png");
        assertThrows(JDiffusionException.class, () -> AtomicFiles.write(out, tmp -> {
            Files.writeString(tmp, "half");
            throw new IOException("disk full");
        }));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(0, s.count());
        }
        assertFalse(Files.exists(out));
    }

    /** {@code base & ~umask}, the umask read from a shell this process starts (it inherits ours). */
    private static Set<PosixFilePermission> modeUnderUmask(int base) throws Exception {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"), "POSIX file modes only");
        Process p = new ProcessBuilder("sh", "-c", "umask").redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
        assertEquals(0, p.waitFor(), text);
        int mode = base & ~Integer.parseInt(text, 8);
        Set<PosixFilePermission> out = EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] bits = PosixFilePermission.values(); // OWNER_READ ... OTHERS_EXECUTE, high bit first
        for (int i = 0; i < 9; i++) {
            if ((mode & (1 << (8 - i))) != 0) out.add(bits[i]);
        }
        return out;
    }
}
