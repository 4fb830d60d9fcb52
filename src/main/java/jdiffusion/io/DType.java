package jdiffusion.io;

import java.util.Locale;
import jdiffusion.JDiffusionException;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** The safetensors element types jdiffusion reads and writes, with their libtorch counterparts. */
public enum DType {
    F64(8, ScalarType.Double),
    F32(4, ScalarType.Float),
    F16(2, ScalarType.Half),
    BF16(2, ScalarType.BFloat16),
    I64(8, ScalarType.Long),
    I32(4, ScalarType.Int),
    I16(2, ScalarType.Short),
    I8(1, ScalarType.Char),
    U8(1, ScalarType.Byte),
    BOOL(1, ScalarType.Bool);

    private final int byteSize;
    private final ScalarType scalarType;

    DType(int byteSize, ScalarType scalarType) {
        this.byteSize = byteSize;
        this.scalarType = scalarType;
    }

    public int byteSize() {
        return byteSize;
    }

    public ScalarType scalarType() {
        return scalarType;
    }

    /** The safetensors spelling ("F32", "BF16", ...), or null when it is not one we read. */
    public static DType fromSafetensorsName(String name) {
        for (DType t : values()) {
            if (t.name().equals(name)) return t;
        }
        return null;
    }

    public static DType of(ScalarType scalarType) {
        for (DType t : values()) {
            if (t.scalarType.value == scalarType.value) return t;
        }
        throw new JDiffusionException("tensors of type " + scalarType + " cannot be stored in safetensors here");
    }

    /** Parses the user spellings fp32/float32/f32, fp16/half, bf16/bfloat16 (case-insensitive). */
    public static DType parseFloat(String s) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "fp32", "float32", "f32", "float" -> F32;
            case "fp16", "float16", "f16", "half" -> F16;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new JDiffusionException(
                    "unknown dtype '" + s + "': use fp32, fp16 or bf16");
        };
    }
}
