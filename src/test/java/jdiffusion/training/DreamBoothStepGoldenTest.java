package jdiffusion.training;

import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One DreamBooth training step against diffusers' train_dreambooth.py on the golden tiny UNet:
 * noisy latents, the epsilon / v target, the (prior-preservation) loss, the gradients and the
 * parameters after one AdamW step.
 */
class DreamBoothStepGoldenTest {
    private static final double LR = 1e-3;
    private static final double ADAM_EPS = 1e-8;
    private static final double EPS32 = Math.ulp(1.0f);

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"train_dreambooth_eps", "train_dreambooth_v", "train_dreambooth_prior_preservation"})
    void oneStepMatchesDiffusers(String caseName) {
        UNet2DConditionModel unet = UNet2DConditionModel.load(Golden.model("sd1-tiny-pipeline").resolve("unet"),
                ScalarType.Float, Tensors.CPU);
        try (Golden g = Golden.open(caseName); PointerScope scope = new PointerScope()) {
            boolean v = caseName.endsWith("_v");
            DDPMScheduler noiseScheduler = (DDPMScheduler) Schedulers.create("DDPMScheduler",
                    Golden.model("sd1-tiny-pipeline").resolve("scheduler/scheduler_config.json"),
                    Map.of("prediction_type", v ? "v_prediction" : "epsilon"));
            Tensor latents = g.tensor("latents");
            Tensor noise = g.tensor("noise");
            Tensor timesteps = g.tensor("timesteps");
            Tensor noisy = noiseScheduler.addNoise(latents, noise, timesteps);
            Golden.assertClose(caseName + " noisy_latents", noisy, g.tensor("noisy_latents"), 1e-6, 1e-7);
            Tensor target = v ? noiseScheduler.getVelocity(latents, noise, timesteps) : noise;
            Golden.assertClose(caseName + " target", target, g.tensor("target"), 1e-6, 1e-7);

            Map<String, Tensor> params = ModuleTensors.namedTensors(unet);
            params.values().forEach(p -> p.requires_grad_(true));
            Tensor pred = unet.forward(noisy, timesteps, g.tensor("encoder_hidden_states"));
            Golden.assertClose(caseName + " model_pred", pred, g.tensor("model_pred"), 1e-4, 1e-6);
            Tensor loss;
            if (caseName.endsWith("prior_preservation")) {
                Tensor instance = torch.mse_loss(pred.narrow(0, 0, 2), target.narrow(0, 0, 2));
                Tensor prior = torch.mse_loss(pred.narrow(0, 2, 2), target.narrow(0, 2, 2));
                Golden.assertClose(caseName + " instance_loss", instance.reshape(1), g.tensor("instance_loss"), 1e-5, 1e-7);
                Golden.assertClose(caseName + " prior_loss", prior.reshape(1), g.tensor("prior_loss"), 1e-5, 1e-7);
                loss = instance.add(prior.mul(new Scalar(1.0)));
            } else {
                loss = torch.mse_loss(pred, target);
            }
            Golden.assertClose(caseName + " loss", loss.reshape(1), g.tensor("loss"), 1e-5, 1e-7);
            loss.backward();

            String[] names = new String[3];
            for (int i = 0; i < 3; i++) names[i] = g.json.get("params").get("param" + i).asText();
            for (int i = 0; i < 3; i++) {
                Tensor p = params.get(names[i]);
                Golden.assertClose(caseName + " " + names[i] + " before", p.detach(), g.tensor("param" + i + "_before"), 0, 0);
                Golden.assertClose(caseName + " " + names[i] + " grad", p.grad(), g.tensor("param" + i + "_grad"), 1e-3, 1e-7);
            }
            Tensor[] ourGrads = new Tensor[3];
            for (int i = 0; i < 3; i++) ourGrads[i] = params.get(names[i]).grad().clone();
            try (AdamW adamw = new AdamW(params, 1e-2)) {
                adamw.step(LR, 1);
            }
            for (int i = 0; i < 3; i++) {
                assertAdamStepClose(caseName + " " + names[i] + " after", params.get(names[i]).detach(),
                        g.tensor("param" + i + "_after"), ourGrads[i], g.tensor("param" + i + "_grad"),
                        g.tensor("param" + i + "_before"));
            }
            for (int i = 0; i < 3; i++) {
                Tensor p = g.tensor("param" + i + "_before").requires_grad_(true);
                p.mul(g.tensor("param" + i + "_grad")).sum().backward(); // d/dp sum(p * G) = G exactly
                try (AdamW adamw = new AdamW(Map.of(names[i], p), 1e-2)) {
                    adamw.step(LR, 1);
                }
                Golden.assertClose(caseName + " " + names[i] + " AdamW on the reference grad", p.detach(),
                        g.tensor("param" + i + "_after"), 1e-6, 1e-7);
            }
        } finally {
            unet.close();
        }
    }

    /**
     * The weights after the first AdamW step, from our gradient, against the reference's, from its
     * gradient. That step moves each weight by lr * u(g) with u(g) = g / (|g| + eps) (plus the
     * decay lr * wd * p, the same on both sides), so a gradient that differs by d moves it
     * differently by at most lr * min(2, d / (min(|g|, |g_ref|) + eps)): where a gradient is near
     * zero, its rounding noise decides the sign of the step, and a full lr of difference is
     * right arithmetic, not an error. Each element is held to that bound (plus a few float32 ulps
     * of the weight); the gradients themselves were checked above.
     */
    private static void assertAdamStepClose(String what, Tensor after, Tensor refAfter, Tensor grad, Tensor refGrad,
                                            Tensor before) {
        Tensor g = grad.to(ScalarType.Double), r = refGrad.to(ScalarType.Double);
        Tensor gradDiff = g.sub(r).abs();
        Tensor smaller = torch.minimum(g.abs(), r.abs());
        Tensor stepBound = gradDiff.div(smaller.add(new Scalar(ADAM_EPS))).clamp_max(new Scalar(2.0)).mul(new Scalar(LR));
        Tensor rounding = before.to(ScalarType.Double).abs().add(new Scalar(LR)).mul(new Scalar(4 * EPS32));
        Tensor allowed = stepBound.add(rounding);
        Tensor diff = after.to(ScalarType.Double).sub(refAfter.to(ScalarType.Double)).abs();
        double worst = diff.div(allowed).max().item_double();
        System.out.printf("%-50s max|diff| = %.3e, worst diff / per-element bound = %.3f%n", what,
                diff.max().item_double(), worst);
        org.junit.jupiter.api.Assertions.assertTrue(worst <= 1.0, what + ": an element moved "
                + worst + "x further from the reference than its gradient difference allows");
    }
}
