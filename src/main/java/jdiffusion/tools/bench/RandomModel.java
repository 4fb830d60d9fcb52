package jdiffusion.tools.bench;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import jdiffusion.JDiffusionException;
import jdiffusion.models.clip.CLIPTextConfig;
import jdiffusion.models.dpt.BitConfig;
import jdiffusion.models.dpt.DPTConfig;
import jdiffusion.models.unet.UNet2DConditionConfig;
import jdiffusion.models.vae.AutoencoderKLConfig;

/**
 * The architectures {@code create-random} can write: the published Stable Diffusion configs (real
 * shapes, random weights) and a tiny one with SD's structure for tests and the benchmark's tiny
 * mode. Each carries the scheduler_config.json its Hub repository ships.
 */
public enum RandomModel {
    /** stable-diffusion-v1-5/stable-diffusion-v1-5. */
    SD15("sd15", UNet2DConditionConfig.stableDiffusion15(), CLIPTextConfig.SD_1_5, SchedulerJson.SD_1_5),
    /** stabilityai/stable-diffusion-2-1 (768 px, v-prediction). */
    SD21("sd21", UNet2DConditionConfig.stableDiffusion21(), CLIPTextConfig.SD_2_1, SchedulerJson.SD_2_1),
    /** stabilityai/stable-diffusion-2-inpainting (9-channel UNet). */
    SD2_INPAINT("sd2-inpaint", UNet2DConditionConfig.stableDiffusion2Inpainting(), CLIPTextConfig.SD_2_1,
            SchedulerJson.SD_2_INPAINTING),
    /** stabilityai/stable-diffusion-2-depth (5-channel UNet) with a full-size random DPT-Hybrid depth estimator. */
    SD2_DEPTH("sd2-depth", UNet2DConditionConfig.stableDiffusion2Depth(), CLIPTextConfig.SD_2_1, SchedulerJson.SD_2_DEPTH),
    /** SD 1.5's block structure at widths 32/64 (a few MB): seconds to build and run. */
    TINY("tiny", tinyUNet(4), tinyTextEncoder(), SchedulerJson.SD_1_5),
    /** The tiny model with a 5-channel UNet and a tiny DPT-Hybrid: a depth2img folder in seconds, for tests. */
    TINY_DEPTH("tiny-depth", tinyUNet(5), tinyTextEncoder(), SchedulerJson.SD_1_5);

    private final String cliName;
    private final UNet2DConditionConfig unet;
    private final CLIPTextConfig textEncoder;
    private final String schedulerJson;

    RandomModel(String cliName, UNet2DConditionConfig unet, CLIPTextConfig textEncoder, String schedulerJson) {
        this.cliName = cliName;
        this.unet = unet;
        this.textEncoder = textEncoder;
        this.schedulerJson = schedulerJson;
    }

    public String cliName() { return cliName; }
    public UNet2DConditionConfig unet() { return unet; }
    public CLIPTextConfig textEncoder() { return textEncoder; }
    /** scheduler/scheduler_config.json, verbatim. */
    public String schedulerJson() { return schedulerJson; }

    /** The depth estimator of a depth model (Intel/dpt-hybrid-midas's shapes, or a tiny one), else null. */
    public DPTConfig depthEstimator() {
        return switch (this) {
            case SD2_DEPTH -> DPTConfig.dptHybridMidas();
            case TINY_DEPTH -> new DPTConfig(32, 2, 4, 37, "gelu", 1e-12, 64, 16, 3, true, true, List.of(0, 1, 0, 1),
                    List.of(32, 64, 32, 32), List.of(1.0, 1.0, 1.0, 0.5), 16, -1, "project", List.of(0, 1), false, null, false,
                    List.of(1, 96, 4, 4), new BitConfig(3, 16, List.of(32, 64, 96), List.of(1, 1, 1), "bottleneck", "relu",
                            "same", 8, true, 1, 32, List.of("stage1", "stage2", "stage3")));
            default -> null;
        };
    }

    /** Every SD 1.x/2.x model shares one VAE; the tiny models keep its four blocks (factor 8) at width 32/64. */
    public AutoencoderKLConfig vae() {
        if (this != TINY && this != TINY_DEPTH) return AutoencoderKLConfig.stableDiffusion();
        return new AutoencoderKLConfig(3, 3,
                List.of(AutoencoderKLConfig.DOWN_ENCODER, AutoencoderKLConfig.DOWN_ENCODER,
                        AutoencoderKLConfig.DOWN_ENCODER, AutoencoderKLConfig.DOWN_ENCODER),
                List.of(AutoencoderKLConfig.UP_DECODER, AutoencoderKLConfig.UP_DECODER,
                        AutoencoderKLConfig.UP_DECODER, AutoencoderKLConfig.UP_DECODER),
                List.of(32, 32, 64, 64), 1, "silu", 4, 32, 64, 0.18215, null, null, null, true, true, true, true);
    }

    public static RandomModel parse(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        for (RandomModel m : values()) {
            if (m.cliName.equals(n)) return m;
        }
        throw new JDiffusionException("--config " + name + ": use one of "
                + Arrays.stream(values()).map(RandomModel::cliName).collect(Collectors.joining(", ")));
    }

    /** Three blocks 32/64/64 (two with cross-attention), 8 heads, text width 32: SD 1.5's layout in miniature. */
    private static UNet2DConditionConfig tinyUNet(int inChannels) {
        return new UNet2DConditionConfig(8, inChannels, 4, false, true, 0,
                List.of(UNet2DConditionConfig.CROSS_ATTN_DOWN, UNet2DConditionConfig.CROSS_ATTN_DOWN, UNet2DConditionConfig.DOWN),
                UNet2DConditionConfig.MID_CROSS_ATTN,
                List.of(UNet2DConditionConfig.UP, UNet2DConditionConfig.CROSS_ATTN_UP, UNet2DConditionConfig.CROSS_ATTN_UP),
                List.of(32, 64, 64), List.of(2, 2, 2), 1, 1.0, 0.0, "silu", 32, 1e-5, List.of(32, 32, 32),
                List.of(1, 1, 1), List.of(8, 8, 8), false, false, 1.0, 3, 3, null);
    }

    /** CLIP's full 49408-token vocabulary (so any tokenizer fits) at width 32, five layers. */
    private static CLIPTextConfig tinyTextEncoder() {
        return new CLIPTextConfig(49408, 32, 37, 32, 5, 4, 77, CLIPTextConfig.HiddenAct.QUICK_GELU, 1e-5, 0.0, 0.02,
                1.0, 1, 0, 2);
    }

    /** The scheduler_config.json files of the Hub repositories, as published. */
    private static final class SchedulerJson {
        static final String SD_1_5 = """
                {
                  "_class_name": "PNDMScheduler",
                  "_diffusers_version": "0.6.0",
                  "beta_end": 0.012,
                  "beta_schedule": "scaled_linear",
                  "beta_start": 0.00085,
                  "num_train_timesteps": 1000,
                  "set_alpha_to_one": false,
                  "skip_prk_steps": true,
                  "steps_offset": 1,
                  "trained_betas": null,
                  "clip_sample": false
                }
                """;
        static final String SD_2_1 = """
                {
                  "_class_name": "DDIMScheduler",
                  "_diffusers_version": "0.8.0",
                  "beta_end": 0.012,
                  "beta_schedule": "scaled_linear",
                  "beta_start": 0.00085,
                  "clip_sample": false,
                  "num_train_timesteps": 1000,
                  "prediction_type": "v_prediction",
                  "set_alpha_to_one": false,
                  "skip_prk_steps": true,
                  "steps_offset": 1,
                  "trained_betas": null
                }
                """;
        static final String SD_2_DEPTH = """
                {
                  "_class_name": "PNDMScheduler",
                  "_diffusers_version": "0.8.0",
                  "beta_end": 0.012,
                  "beta_schedule": "scaled_linear",
                  "beta_start": 0.00085,
                  "clip_sample": false,
                  "num_train_timesteps": 1000,
                  "set_alpha_to_one": false,
                  "skip_prk_steps": true,
                  "steps_offset": 1,
                  "trained_betas": null
                }
                """;
        static final String SD_2_INPAINTING = """
                {
                  "_class_name": "PNDMScheduler",
                  "_diffusers_version": "0.8.0",
                  "beta_end": 0.012,
                  "beta_schedule": "scaled_linear",
                  "beta_start": 0.00085,
                  "clip_sample": false,
                  "num_train_timesteps": 1000,
                  "set_alpha_to_one": false,
                  "skip_prk_steps": true,
                  "steps_offset": 1,
                  "trained_betas": null
                }
                """;

        private SchedulerJson() {}
    }
}
