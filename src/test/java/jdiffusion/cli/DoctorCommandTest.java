package jdiffusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code jdiffusion doctor}: the system report, and the self-check passing on this machine's kernels. */
class DoctorCommandTest {
    @Test
    void reportsTheMachineAndEveryOpIsRightHere() {
        CliRunner r = CliRunner.run("doctor");
        String out = r.out();
        System.out.print(out);
        for (String line : new String[] {"CPU:", "vector extensions:", "CPU class:", "libtorch:", "oneDNN:", "libtorch threads:", "NNPACK:"}) {
            assertTrue(out.contains(line), "the report has " + line + "\n" + out);
        }
        assertTrue(out.contains("conv 3x3 320->4 (UNet conv_out)"), out);
        assertTrue(out.contains("attention 5x64, 256 tokens, inference"), out);
        // on a CPU whose kernels are wrong this fails, naming the op: that is the point
        assertFalse(out.contains("WRONG"), out);
        assertTrue(out.matches("(?s).*\\n(\\d+) of \\1 comparisons right.*"), out);
        assertEquals(0, r.exitCode(), r.err());
    }

    @Test
    void reportOnly() {
        CliRunner r = CliRunner.run("doctor", "--no-self-check");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("oneDNN:") && !r.out().contains("comparisons"), r.out());
    }
}
