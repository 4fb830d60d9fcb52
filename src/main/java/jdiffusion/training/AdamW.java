package jdiffusion.training;

import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * torch.optim.AdamW (Loshchilov and Hutter, decoupled weight decay) over named float32 parameters,
 * written out here rather than through libtorch's {@code AdamW} so that its state is a plain map
 * of named tensors: checkpoints hold it in one safetensors file with the weights, and a resumed
 * run continues bit for bit. The step count is the caller's (bias correction uses it).
 *
 * <p>Create it outside any PointerScope: the moment tensors live as long as the optimiser.
 */
public final class AdamW implements AutoCloseable {
    static final double BETA1 = 0.9;
    static final double BETA2 = 0.999;
    static final double EPS = 1e-8;

    private final Map<String, Tensor> parameters;
    private final Map<String, Tensor> expAvg = new LinkedHashMap<>();
    private final Map<String, Tensor> expAvgSq = new LinkedHashMap<>();
    private final double weightDecay;

    public AdamW(Map<String, Tensor> parameters, double weightDecay) {
        this.parameters = Map.copyOf(parameters);
        this.weightDecay = weightDecay;
        for (var e : parameters.entrySet()) {
            expAvg.put(e.getKey(), torch.zeros_like(e.getValue()));
            expAvgSq.put(e.getKey(), torch.zeros_like(e.getValue()));
        }
    }

    /**
     * One update with learning rate {@code lr}; {@code step} counts from 1. Parameters without a
     * gradient are left alone (their moments too), as torch does.
     */
    public void step(double lr, long step) {
        double bc1 = 1 - Math.pow(BETA1, step);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(BETA2, step));
        try (NoGradGuard noGrad = new NoGradGuard()) {
            for (var e : parameters.entrySet()) {
                Tensor p = e.getValue();
                Tensor g = p.grad();
                if (!g.defined()) continue;
                Tensor m = expAvg.get(e.getKey());
                Tensor v = expAvgSq.get(e.getKey());
                if (weightDecay > 0) p.mul_(new Scalar(1 - lr * weightDecay));
                m.lerp_(g, new Scalar(1 - BETA1));
                v.mul_(new Scalar(BETA2)).addcmul_(g, g, new Scalar(1 - BETA2));
                Tensor denom = v.sqrt().div_(new Scalar(bc2Sqrt)).add_(new Scalar(EPS));
                p.addcdiv_(m, denom, new Scalar(-lr / bc1));
            }
        }
    }

    /** The moments by {@code exp_avg/<name>} and {@code exp_avg_sq/<name>} (live tensors, not copies). */
    public Map<String, Tensor> state() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        expAvg.forEach((k, t) -> out.put("exp_avg/" + k, t));
        expAvgSq.forEach((k, t) -> out.put("exp_avg_sq/" + k, t));
        return out;
    }

    @Override
    public void close() {
        expAvg.values().forEach(Tensor::close);
        expAvgSq.values().forEach(Tensor::close);
    }
}
