package jdiffusion.diagnostics;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import jdiffusion.nn.AttentionKernel;
import jdiffusion.nn.Functional;
import jdiffusion.nn.Layers;
import jdiffusion.tensor.CpuClass;
import jdiffusion.tensor.Tensors;
import jdiffusion.tensor.TorchGenerator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A self-check of the ops a UNet and a VAE run - convolutions (among them the 4- and 3-channel
 * {@code conv_out}s), linear layers, group and layer norms, attention, SiLU, GELU, nearest
 * upsampling - forward and backward, in float32 and bfloat16, against the same op in float64.
 * It finds the CPU-specific kernel defects that a test suite on one machine cannot (a wrong
 * convolution gradient on CPUs without AMX was one) and takes a few seconds.
 *
 * <p>Every check uses the layers the models use ({@link Layers}), with inputs and parameters
 * rounded to the dtype first, so the float64 reference sees exactly the same numbers and what
 * remains is the arithmetic of the op. Tolerances follow from it: an output that sums K products
 * in float32 carries a rounding error that grows like sqrt(K) eps32, and we allow 8 sqrt(K)
 * eps32 relative to the reference's largest element; in bfloat16 each rounding of an
 * intermediate to bf16 adds up to eps_bf16 / 2 relative, and we allow 2 eps_bf16 per rounding
 * the op makes on its longest path (counted per op below). A broken kernel is off by tens of
 * percent or NaN, far outside either.
 *
 * <pre>{@code
 * List<SelfCheck.Result> results = SelfCheck.run();
 * results.stream().filter(r -> !r.passed()).forEach(System.out::println);
 * }</pre>
 */
public final class SelfCheck {
    private static final double EPS32 = Math.ulp(1.0f);       // 2^-23
    private static final double EPS_BF16 = Math.pow(2, -7);   // 8 significant bits

    private SelfCheck() {}

    /** One compared quantity of one op in one dtype. */
    public record Result(String op, String dtype, String quantity, double relativeError, double tolerance) {
        /** False for NaN as well. */
        public boolean passed() {
            return relativeError <= tolerance;
        }

        @Override
        public String toString() {
            return String.format("%-34s %-5s %-16s rel. error %.2e (allowed %.2e) %s",
                    op, dtype, quantity, relativeError, tolerance, passed() ? "ok" : "WRONG");
        }
    }

    /**
     * An op under check: a module (or null) applied to an input of {@code inputShape}.
     *
     * @param reduction  the longest sum of products behind one output or gradient element (K)
     * @param roundings  bf16 roundings on the op's longest path, forward and backward
     */
    private record Case(String name, Module module, long[] inputShape, long reduction, int roundings,
                        BiFunction<Module, Tensor, Tensor> forward) {}

    /** Runs every check (a few seconds on two cores) and returns every comparison. */
    public static List<Result> run() {
        List<Case> cases = cases();
        List<Result> results = new ArrayList<>();
        try {
            for (Case c : cases) {
                for (ScalarType dtype : new ScalarType[] {ScalarType.Float, ScalarType.BFloat16}) {
                    results.addAll(check(c, dtype));
                }
            }
        } finally {
            for (Case c : cases) if (c.module() != null) c.module().close();
        }
        return results;
    }

    private static List<Case> cases() {
        List<Case> list = new ArrayList<>();
        list.add(conv("conv 3x3 320->4 (UNet conv_out)", 320, 4, 3, 1, 16));
        list.add(conv("conv 3x3 128->3 (VAE conv_out)", 128, 3, 3, 1, 32));
        list.add(conv("conv 3x3 4->64 (UNet conv_in)", 4, 64, 3, 1, 16));
        list.add(conv("conv 3x3 64->64", 64, 64, 3, 1, 16));
        list.add(conv("conv 3x3 64->64 stride 2", 64, 64, 3, 2, 16));
        list.add(conv("conv 1x1 96->32 (shortcut)", 96, 32, 1, 1, 16));
        list.add(new Case("linear 320->640", Layers.linear(320, 640, true), new long[] {2, 64, 320}, 320, 2,
                (m, x) -> ((org.bytedeco.pytorch.LinearImpl) m).forward(x)));
        list.add(new Case("group norm 32 groups x 64", Layers.groupNorm(32, 64, 1e-5), new long[] {2, 64, 8, 8}, 2 * 8 * 8, 3,
                (m, x) -> ((org.bytedeco.pytorch.GroupNormImpl) m).forward(x)));
        list.add(new Case("layer norm 320", Layers.layerNorm(320, 1e-5), new long[] {2, 64, 320}, 320, 3,
                (m, x) -> ((org.bytedeco.pytorch.LayerNormImpl) m).forward(x)));
        // attention with the kernel the models pick for this dtype and CPU (AttentionKernel): q, k, v split
        // from one input [B, heads, N, 3d]
        list.add(new Case("attention 5x64, 256 tokens, training", null, new long[] {2, 5, 256, 3 * 64}, 256, 6,
                (m, x) -> AttentionKernel.choose(x.scalar_type(), true, true, CpuClass.current())
                        .run(x.narrow(3, 0, 64), x.narrow(3, 64, 64), x.narrow(3, 128, 64))));
        list.add(new Case("attention 5x64, 256 tokens, inference", null, new long[] {2, 5, 256, 3 * 64}, 256, 6,
                (m, x) -> AttentionKernel.choose(x.scalar_type(), true, false, CpuClass.current())
                        .run(x.narrow(3, 0, 64), x.narrow(3, 64, 64), x.narrow(3, 128, 64))));
        list.add(new Case("silu", null, new long[] {2, 64, 16, 16}, 1, 2, (m, x) -> Functional.silu(x)));
        list.add(new Case("gelu", null, new long[] {2, 64, 640}, 1, 2, (m, x) -> Functional.gelu(x)));
        list.add(new Case("upsample nearest 2x", null, new long[] {2, 64, 8, 8}, 4, 1,
                (m, x) -> Functional.upsampleNearest(x, 16, 16)));
        return list;
    }

    private static Case conv(String name, long in, long out, long k, long stride, long size) {
        // forward sums in*k*k products; the input gradient out*k*k; weight and bias B*Hout*Wout
        long hOut = (size + 2 * (k / 2) - k) / stride + 1;
        long reduction = Math.max(Math.max(in * k * k, out * k * k), 2 * hOut * hOut);
        return new Case(name, Layers.conv2d(in, out, k, stride, k / 2), new long[] {2, in, size, size}, reduction, 2,
                (m, x) -> ((org.bytedeco.pytorch.Conv2dImpl) m).forward(x));
    }

    private static List<Result> check(Case c, ScalarType dtype) {
        String dtypeName = dtype == ScalarType.Float ? "fp32" : "bf16";
        double tolerance = (dtype == ScalarType.BFloat16 ? c.roundings() * 2 * EPS_BF16 : 0)
                + 8 * Math.sqrt(c.reduction()) * EPS32;
        try (PointerScope scope = new PointerScope()) {
            TorchGenerator g = new TorchGenerator(c.name().hashCode());
            Tensor x = g.randn(c.inputShape()).to(dtype).to(ScalarType.Double);
            if (c.module() != null) randomise(c.module(), g, dtype);
            Outputs got = run(c, x, dtype, g.seed());
            Outputs ref = run(c, x, ScalarType.Double, g.seed());
            List<Result> results = new ArrayList<>();
            results.add(new Result(c.name(), dtypeName, "forward", relative(got.y, ref.y), tolerance));
            results.add(new Result(c.name(), dtypeName, "input gradient", relative(got.grads.get(0), ref.grads.get(0)), tolerance));
            double worst = 0;
            for (int i = 1; i < ref.grads.size(); i++) {
                double r = relative(got.grads.get(i), ref.grads.get(i));
                worst = Double.isNaN(r) || Double.isNaN(worst) ? Double.NaN : Math.max(worst, r);
            }
            if (ref.grads.size() > 1) results.add(new Result(c.name(), dtypeName, "weight gradients", worst, tolerance));
            return results;
        } finally {
            if (c.module() != null) c.module().to(ScalarType.Float, false);
        }
    }

    private record Outputs(Tensor y, List<Tensor> grads) {}

    /** Forward and torch.autograd.grad of (y * gy).sum() in {@code dtype}. */
    private static Outputs run(Case c, Tensor x64, ScalarType dtype, long seed) {
        if (c.module() != null) c.module().to(dtype, false);
        Tensor x = x64.to(dtype).requires_grad_(true);
        Tensor y = c.forward().apply(c.module(), x);
        Tensor gy = new TorchGenerator(seed + 1).randn(Tensors.shape(y)).to(dtype);
        TensorVector inputs = new TensorVector(x);
        if (c.module() != null) {
            TensorVector params = c.module().parameters(true);
            for (long i = 0; i < params.size(); i++) inputs.push_back(params.get(i));
        }
        TensorVector grads = torch.grad(new TensorVector(y), inputs, new TensorVector(gy.to(y.scalar_type())),
                new BoolOptional(), false, false);
        List<Tensor> list = new ArrayList<>();
        for (long i = 0; i < grads.size(); i++) list.add(grads.get(i).to(ScalarType.Double));
        return new Outputs(y.detach().to(ScalarType.Double), list);
    }

    /** Parameters drawn from the generator, scaled like a trained layer's, and rounded to {@code dtype}. */
    private static void randomise(Module module, TorchGenerator g, ScalarType dtype) {
        try (NoGradGuard noGrad = new NoGradGuard()) {
            TensorVector params = module.parameters(true);
            for (long i = 0; i < params.size(); i++) {
                Tensor p = params.get(i);
                long fanIn = p.dim() > 1 ? p.numel() / p.size(0) : 1;
                Tensor values = g.randn(Tensors.shape(p)).mul(new Scalar(1.0 / Math.sqrt(fanIn)));
                p.copy_(values.to(dtype).to(p.scalar_type()));
                p.requires_grad_(true);
            }
        }
    }

    /** max |got - ref| / max |ref|; NaN when got has a NaN. */
    private static double relative(Tensor got, Tensor ref) {
        if (!torch.isfinite(got).all().item_bool()) return Double.NaN;
        double scale = Tensors.maxAbs(ref);
        return scale == 0 ? Tensors.maxAbs(got) : Tensors.maxAbsDiff(got, ref) / scale;
    }
}
