package jdiffusion.nn;

import static org.junit.jupiter.api.Assertions.assertTrue;

import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Conv2dImpl;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every convolution shape the models use, through {@link Layers#conv2d}: forward and all three
 * gradients (input, weight, bias) against float64, in float32 and bfloat16.
 *
 * <p>Why: on CPUs without AMX, libtorch 2.10's oneDNN (v3.7) computes a wrong input gradient for
 * 3x3 convolutions with fewer than 16 output channels (every UNet's and VAE's {@code conv_out}),
 * relative error 0.3-1.0 or NaN, while forward, weight and bias gradients are right. Intel CPUs
 * with AMX take other kernels and are right; run this class with {@code ONEDNN_MAX_CPU_ISA=AVX2}
 * or {@code AVX512_CORE} to take the broken path on any machine (the build's {@code non-amx}
 * test execution does). The float64 reference runs libtorch's own (non-oneDNN) convolution.
 *
 * <p>Tolerances follow from the arithmetic. float32: each output is a sum of K products
 * (K = Cin*k*k forward, Cout*k*k for the input gradient, B*Hout*Wout for weight and bias), whose
 * rounding error grows like sqrt(K) * eps32 of the terms' scale; we allow 8 * sqrt(K) * eps32
 * relative to the reference's largest element. bfloat16: the reference is computed from the same
 * bf16-rounded inputs, so what remains is the rounding of each output to bf16 (eps_bf16 / 2 of it)
 * and of the float32 accumulator; we allow 2 * eps_bf16 + 8 * sqrt(K) * eps32.
 */
class ConvolutionGradientTest {
    private static final double EPS32 = Math.ulp(1.0f);   // 2^-23
    private static final double EPS_BF16 = Math.pow(2, -7); // bfloat16 has 8 significant bits

    @ParameterizedTest(name = "{0}: {1}->{2} k{3} s{4} at {5}x{6}")
    @CsvSource({
            // name,                      in,  out, k, stride, size
            "SD unet conv_in,              4,  320, 3, 1, 16, 16",
            "SD inpaint unet conv_in,      9,  320, 3, 1, 16, 16",
            "SD depth unet conv_in,        5,  320, 3, 1, 16, 16",
            "x4 upscaler unet conv_in,     7,  128, 3, 1, 16, 16",
            "SD unet resnet,             320,  320, 3, 1, 16, 16",
            "SD unet resnet widen,       320,  640, 3, 1,  8,  8",
            "SD unet shortcut,           960,  320, 1, 1,  8,  8",
            "SD unet downsample,         320,  320, 3, 2, 16, 16",
            "SD unet conv_out,           320,    4, 3, 1, 64, 64",
            "SD unet conv_out small,     320,    4, 3, 1, 16, 16",
            "SD vae decoder conv_out,    128,    3, 3, 1, 32, 32",
            "SD vae encoder conv_in,       3,  128, 3, 1, 32, 32",
            "SD vae encoder conv_out,    512,    8, 3, 1,  8,  8",
            "SD vae quant_conv,            8,    8, 1, 1,  8,  8",
            "SD vae post_quant_conv,       4,    4, 1, 1,  8,  8",
            "SD vae decoder conv_in,       4,  512, 3, 1,  8,  8",
            "tiny unet conv_out,          32,    4, 3, 1, 16, 16",
            "tiny vae decoder conv_out,   16,    3, 3, 1, 64, 64",
            "pixel unet conv_out 1ch,     32,    1, 3, 1, 28, 28",
            "pixel unet class concat in,   5,   32, 3, 1, 28, 28",
            "odd width,                   24,   20, 3, 1, 12, 12",
            "odd width stride 2,          20,   12, 3, 2, 13, 13",
    })
    void forwardAndGradientsMatchFloat64(String name, long in, long out, long k, long stride, long h, long w) {
        for (ScalarType dtype : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {
            check(name, dtype, in, out, k, stride, h, w);
        }
    }

    /** A layer without bias (TAESD's) takes the padded path too: no bias is made up for it. */
    @org.junit.jupiter.api.Test
    void aConvolutionWithoutBias() {
        Conv2dImpl conv = Layers.conv2d(32, 4, 3, 1, 1, false);
        try (PointerScope scope = new PointerScope()) {
            TorchGenerator g = new TorchGenerator(7);
            Tensor x64 = g.randn(2, 32, 12, 12).to(ScalarType.Double);
            Tensor gy64 = g.randn(2, 4, 12, 12).to(ScalarType.Double);
            Tensor x = x64.to(ScalarType.Float).requires_grad_(true);
            Tensor y = conv.forward(x);
            TensorVector got = torch.grad(new TensorVector(y), new TensorVector(x, conv.weight()),
                    new TensorVector(gy64.to(ScalarType.Float)), new org.bytedeco.pytorch.BoolOptional(), false, false);
            Tensor xr = x64.clone().requires_grad_(true), wr = conv.weight().detach().to(ScalarType.Double).requires_grad_(true);
            Tensor yr = torch.conv2d(xr, wr, new org.bytedeco.pytorch.TensorOptional(), new long[] {1, 1}, new long[] {1, 1},
                    new long[] {1, 1}, 1);
            TensorVector ref = torch.grad(new TensorVector(yr), new TensorVector(xr, wr), new TensorVector(gy64),
                    new org.bytedeco.pytorch.BoolOptional(), false, false);
            assertClose("no bias", ScalarType.Float, "forward", y, yr, 8 * Math.sqrt(32 * 9) * EPS32);
            assertClose("no bias", ScalarType.Float, "input gradient", got.get(0), ref.get(0), 8 * Math.sqrt(4 * 9) * EPS32);
            assertClose("no bias", ScalarType.Float, "weight gradient", got.get(1), ref.get(1), 8 * Math.sqrt(2 * 144) * EPS32);
        } finally {
            conv.close();
        }
    }

    @org.junit.jupiter.api.Test
    void buildingAConvolutionSwitchesNnpackOff() {
        Layers.conv2d(3, 4, 3, 1, 1).close();
        org.junit.jupiter.api.Assertions.assertFalse(jdiffusion.tensor.ConvolutionBackends.nnpackEnabled(),
                "NNPACK stays off, so every CPU runs oneDNN's convolutions and none prints NNPACK's warning");
    }

    private static void check(String name, ScalarType dtype, long in, long out, long k, long stride, long h, long w) {
        Conv2dImpl conv = Layers.conv2d(in, out, k, stride, k / 2); // built outside any scope
        try (PointerScope scope = new PointerScope()) {
            TorchGenerator g = new TorchGenerator(in * 1000 + out * 10 + k);
            long b = 2;
            Tensor x64 = g.randn(b, in, h, w).to(dtype).to(ScalarType.Double);
            Tensor w64 = g.randn(out, in, k, k).mul(new org.bytedeco.pytorch.Scalar(1.0 / Math.sqrt(in * k * k)))
                    .to(dtype).to(ScalarType.Double);
            Tensor b64 = g.randn(out).to(dtype).to(ScalarType.Double);
            long ho = (h + 2 * (k / 2) - k) / stride + 1, wo = (w + 2 * (k / 2) - k) / stride + 1;
            Tensor gy64 = g.randn(b, out, ho, wo).to(dtype).to(ScalarType.Double);

            // the layer under test, in dtype, with its parameters set to the rounded values
            try (var noGrad = new org.bytedeco.pytorch.NoGradGuard()) {
                conv.weight().copy_(w64);
                conv.bias().copy_(b64);
            }
            conv.to(dtype, false);
            Tensor x = x64.to(dtype).requires_grad_(true);
            Tensor y = conv.forward(x);
            Grads got = grads(y, gy64.to(dtype), x, conv.weight(), conv.bias());

            // float64 reference: libtorch's native convolution, not oneDNN
            Tensor xr = x64.clone().requires_grad_(true), wr = w64.clone().requires_grad_(true), br = b64.clone().requires_grad_(true);
            Tensor yr = torch.conv2d(xr, wr, new org.bytedeco.pytorch.TensorOptional(br), new long[] {stride, stride}, new long[] {k / 2, k / 2}, new long[] {1, 1}, 1);
            Grads ref = grads(yr, gy64, xr, wr, br);

            double bf = dtype == ScalarType.BFloat16 ? 2 * EPS_BF16 : 0;
            assertClose(name, dtype, "forward", y, yr, bf + 8 * Math.sqrt(in * k * k) * EPS32);
            assertClose(name, dtype, "input gradient", got.x, ref.x, bf + 8 * Math.sqrt(out * k * k) * EPS32);
            assertClose(name, dtype, "weight gradient", got.w, ref.w, bf + 8 * Math.sqrt(b * ho * wo) * EPS32);
            assertClose(name, dtype, "bias gradient", got.b, ref.b, bf + 8 * Math.sqrt(b * ho * wo) * EPS32);
        } finally {
            conv.to(ScalarType.Float, false);
            conv.close();
        }
    }

    private record Grads(Tensor x, Tensor w, Tensor b) {}

    /** torch.autograd.grad(y, (x, w, b), gy). */
    private static Grads grads(Tensor y, Tensor gy, Tensor x, Tensor w, Tensor b) {
        TensorVector out = torch.grad(new TensorVector(y), new TensorVector(x, w, b), new TensorVector(gy),
                new org.bytedeco.pytorch.BoolOptional(), false, false);
        return new Grads(out.get(0), out.get(1), out.get(2));
    }

    private static void assertClose(String name, ScalarType dtype, String what, Tensor got, Tensor ref, double tolerance) {
        double scale = Tensors.maxAbs(ref);
        double diff = Tensors.maxAbsDiff(got, ref);
        double ratio = diff / scale;
        boolean ok = ratio <= tolerance; // false for NaN too
        if (!ok || System.getenv("CONV_TEST_VERBOSE") != null) {
            System.out.printf("%s %s %s: max|diff| %.3e, max|ref| %.3e, ratio %.3e (allowed %.3e)%n",
                    name, dtype, what, diff, scale, ratio, tolerance);
        }
        assertTrue(ok, name + " " + dtype + " " + what + ": relative error " + ratio + " > " + tolerance);
    }
}
