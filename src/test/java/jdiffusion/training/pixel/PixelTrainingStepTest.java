package jdiffusion.training.pixel;

import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.models.unet2d.UNet2DModel;
import jdiffusion.schedulers.DDPMScheduler;
import jdiffusion.schedulers.SchedulerConfigFile;
import jdiffusion.schedulers.Schedulers;
import jdiffusion.tensor.ModuleTensors;
import jdiffusion.tensor.Tensors;
import jdiffusion.training.AdamW;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** One step of the course's fine-tuning loop (train_ddpm_finetune): loss, gradients and the AdamW update. */
class PixelTrainingStepTest {
    @Test
    void oneFineTuningStepMatchesTheCourse() {
        try (Golden g = Golden.open("train_ddpm_finetune")) {
            var tol = g.json.get("suggested_tolerance");
            UNet2DModel unet = UNet2DModel.load(Golden.root().resolve(g.json.get("model").asText()), ScalarType.Float, Tensors.CPU);
            var sched = (DDPMScheduler) Schedulers.create("DDPMScheduler",
                    SchedulerConfigFile.parse(g.json.get("noise_scheduler_config").toString()), Map.of());
            Map<String, Tensor> params = ModuleTensors.parameters(unet, "");
            params.values().forEach(p -> p.requires_grad_(true));
            try (AdamW adamw = new AdamW(params, 0.01); var scope = new PointerScope()) {
                var objective = new PixelDiffusionObjective(unet, sched);
                Tensor clean = g.tensor("clean_images"), noise = g.tensor("noise"), t = g.tensor("timesteps");
                Golden.assertClose("noisy_images", sched.addNoise(clean, noise, t), g.tensor("noisy_images"),
                        tol.get("noisy_images").get("rtol").asDouble(), tol.get("noisy_images").get("atol").asDouble());
                Tensor loss = objective.loss(clean, noise, t, null);
                Golden.assertClose("loss", loss.reshape(1), g.tensor("loss"),
                        tol.get("loss").get("rtol").asDouble(), tol.get("loss").get("atol").asDouble());
                // the notebook's loss.backward(loss): gradients scaled by the loss value
                loss.mul(loss.detach()).backward();
                var names = g.json.get("params");
                for (int k = 0; k < names.size(); k++) {
                    String name = names.get("param" + k).asText();
                    Golden.assertClose(name + " before", params.get(name).detach(), g.tensor("param" + k + "_before"), 0, 0);
                    Golden.assertClose(name + " grad", params.get(name).grad(), g.tensor("param" + k + "_grad"),
                            tol.get("grads").get("rtol").asDouble(), tol.get("grads").get("atol").asDouble());
                }
                adamw.step(1e-4, 1);
                for (int k = 0; k < names.size(); k++) {
                    String name = names.get("param" + k).asText();
                    Golden.assertClose(name + " after", params.get(name).detach(), g.tensor("param" + k + "_after"),
                            tol.get("params_after").get("rtol").asDouble(), tol.get("params_after").get("atol").asDouble());
                }
            } finally {
                unet.close();
            }
        }
    }
}
