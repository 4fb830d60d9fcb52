package jdiffusion.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The CPU class from /proc/cpuinfo flags, capped by ONEDNN_MAX_CPU_ISA as oneDNN caps its kernels. */
class CpuClassTest {
    // abridged flag lines of real machines
    static final String SAPPHIRE_RAPIDS = "fpu avx2 avx512f avx512bw avx512_bf16 avx512_vnni amx_bf16 avx512_fp16 amx_tile amx_int8";
    static final String ZEN5 = "fpu avx2 avx512f avx512bw avx512_bf16 avx512_vnni avx512vl";
    static final String SKYLAKE_SP = "fpu avx2 avx512f avx512bw avx512vl";
    static final String HASWELL = "fpu avx avx2 fma";

    @Test
    void hardwareClasses() {
        assertEquals(CpuClass.AMX_BF16, CpuClass.detect(SAPPHIRE_RAPIDS, null));
        assertEquals(CpuClass.AVX512_BF16, CpuClass.detect(ZEN5, null));
        assertEquals(CpuClass.NO_NATIVE_BF16, CpuClass.detect(SKYLAKE_SP, null));
        assertEquals(CpuClass.NO_NATIVE_BF16, CpuClass.detect(HASWELL, ""));
        assertEquals(CpuClass.NO_NATIVE_BF16, CpuClass.detect("", null)); // no /proc/cpuinfo
        assertTrue(CpuClass.AVX512_BF16.nativeBf16());
        assertFalse(CpuClass.NO_NATIVE_BF16.nativeBf16());
    }

    @Test
    void oneDnnIsaCapLowersTheClassButNeverRaisesIt() {
        assertEquals(CpuClass.AVX512_BF16, CpuClass.detect(SAPPHIRE_RAPIDS, "AVX512_CORE_BF16"));
        assertEquals(CpuClass.AVX512_BF16, CpuClass.detect(SAPPHIRE_RAPIDS, "avx512_core_fp16"));
        assertEquals(CpuClass.NO_NATIVE_BF16, CpuClass.detect(SAPPHIRE_RAPIDS, "AVX512_CORE"));
        assertEquals(CpuClass.NO_NATIVE_BF16, CpuClass.detect(SAPPHIRE_RAPIDS, "AVX2"));
        assertEquals(CpuClass.AMX_BF16, CpuClass.detect(SAPPHIRE_RAPIDS, "AVX512_CORE_AMX"));
        assertEquals(CpuClass.AMX_BF16, CpuClass.detect(SAPPHIRE_RAPIDS, "ALL"));
        assertEquals(CpuClass.AVX512_BF16, CpuClass.detect(ZEN5, "AVX512_CORE_AMX"));
        assertEquals(CpuClass.NO_NATIVE_BF16, CpuClass.detect(SKYLAKE_SP, "ALL"));
    }

    @Test
    void thisMachineIsClassifiedFromItsOwnFlags() {
        CpuClass c = CpuClass.current();
        assertEquals(CpuClass.detect(CpuClass.cpuFlags(), System.getenv("ONEDNN_MAX_CPU_ISA")), c);
        System.out.println("this CPU: " + c + " (ONEDNN_MAX_CPU_ISA=" + System.getenv("ONEDNN_MAX_CPU_ISA") + ")");
    }
}
