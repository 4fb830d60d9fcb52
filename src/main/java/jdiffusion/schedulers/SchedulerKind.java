package jdiffusion.schedulers;

/** The diffusers scheduler classes this package mirrors, by their diffusers class name. */
public enum SchedulerKind {
    DDPM("DDPMScheduler", true),
    DDIM("DDIMScheduler", false),                 // stochastic only with eta > 0
    PNDM("PNDMScheduler", false),
    LMS("LMSDiscreteScheduler", false),
    EULER("EulerDiscreteScheduler", false),       // draws nothing in 0.31 while s_churn = 0
    EULER_ANCESTRAL("EulerAncestralDiscreteScheduler", true),
    HEUN("HeunDiscreteScheduler", false),
    DPM_SOLVER_MULTISTEP("DPMSolverMultistepScheduler", false),
    UNIPC("UniPCMultistepScheduler", false),
    LCM("LCMScheduler", true),                    // fresh noise at every step but the last
    TCD("TCDScheduler", true);                    // the same, scaled by eta (gamma) > 0

    private final String className;
    private final boolean stochastic;

    SchedulerKind(String className, boolean stochastic) {
        this.className = className;
        this.stochastic = stochastic;
    }

    /** The diffusers class name, as in {@code _class_name} of scheduler_config.json. */
    public String className() {
        return className;
    }

    /** Whether {@code step()} draws from the generator with the default configuration. */
    public boolean stochastic() {
        return stochastic;
    }

    /** The scheduler of this kind for an already resolved configuration. */
    public Scheduler create(SchedulerConfig config) {
        return switch (this) {
            case DDPM -> new DDPMScheduler(config);
            case DDIM -> new DDIMScheduler(config);
            case PNDM -> new PNDMScheduler(config);
            case LMS -> new LMSDiscreteScheduler(config);
            case EULER -> new EulerDiscreteScheduler(config);
            case EULER_ANCESTRAL -> new EulerAncestralDiscreteScheduler(config);
            case HEUN -> new HeunDiscreteScheduler(config);
            case DPM_SOLVER_MULTISTEP -> new DPMSolverMultistepScheduler(config);
            case UNIPC -> new UniPCMultistepScheduler(config);
            case LCM -> new LCMScheduler(config);
            case TCD -> new TCDScheduler(config);
        };
    }
}
