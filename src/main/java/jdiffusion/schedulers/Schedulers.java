package jdiffusion.schedulers;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdiffusion.JDiffusionException;

/**
 * Scheduler selection by diffusers class name ({@code EulerAncestralDiscreteScheduler}) or AUTOMATIC1111
 * sampler name ({@code Euler a}), case-insensitively, with diffusers' {@code from_config} semantics.
 */
public final class Schedulers {
    private Schedulers() {}

    /** An A1111 sampler: a scheduler class plus the options its name implies. */
    public record Sampler(String name, SchedulerKind kind, Map<String, Object> options) {
        public Sampler {
            options = Map.copyOf(options);
        }

        /** Whether {@code step()} draws random numbers (DDIM only with eta > 0). */
        public boolean stochastic() {
            return kind.stochastic();
        }
    }

    private static final List<Sampler> SAMPLERS = List.of(
            new Sampler("Euler a", SchedulerKind.EULER_ANCESTRAL, Map.of()),
            new Sampler("Euler", SchedulerKind.EULER, Map.of()),
            new Sampler("LMS", SchedulerKind.LMS, Map.of()),
            new Sampler("Heun", SchedulerKind.HEUN, Map.of()),
            new Sampler("DPM++ 2M", SchedulerKind.DPM_SOLVER_MULTISTEP, Map.of()),
            new Sampler("DPM++ 2M Karras", SchedulerKind.DPM_SOLVER_MULTISTEP, Map.of("use_karras_sigmas", true)),
            new Sampler("DDIM", SchedulerKind.DDIM, Map.of()),
            new Sampler("PLMS", SchedulerKind.PNDM, Map.of()),
            new Sampler("UniPC", SchedulerKind.UNIPC, Map.of()),
            new Sampler("DDPM", SchedulerKind.DDPM, Map.of()),
            new Sampler("LCM", SchedulerKind.LCM, Map.of()),
            new Sampler("TCD", SchedulerKind.TCD, Map.of()));

    /** The A1111 samplers, in the order A1111 lists them. */
    public static List<Sampler> samplers() {
        return SAMPLERS;
    }

    /** The sampler for an A1111 name or a diffusers class name (the latter with no implied options). */
    public static Sampler find(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (Sampler s : SAMPLERS) if (s.name().toLowerCase(Locale.ROOT).equals(n)) return s;
        for (SchedulerKind k : SchedulerKind.values()) {
            if (k.className().toLowerCase(Locale.ROOT).equals(n)) return new Sampler(k.className(), k, Map.of());
        }
        throw new JDiffusionException("unknown scheduler '" + name + "'; valid names: " + String.join(", ", validNames()));
    }

    public static List<String> validNames() {
        List<String> names = new ArrayList<>();
        SAMPLERS.forEach(s -> names.add(s.name()));
        for (SchedulerKind k : SchedulerKind.values()) names.add(k.className());
        return names;
    }

    /**
     * {@code <Class>.from_config(source, **overrides)}: the scheduler named {@code name} configured by the
     * keys present in {@code source}, then the name's implied options, then {@code overrides}
     * (diffusers' JSON key names, e.g. {@code "timestep_spacing" -> "trailing"}).
     */
    public static Scheduler create(String name, SchedulerConfigFile source, Map<String, ?> overrides) {
        Sampler sampler = find(name);
        Map<String, Object> all = new LinkedHashMap<>(sampler.options());
        all.putAll(overrides);
        return sampler.kind().create(SchedulerConfig.resolve(sampler.kind(), source.values(), all));
    }

    /** {@link #create(String, SchedulerConfigFile, Map)} from a {@code scheduler_config.json} file. */
    public static Scheduler create(String name, Path schedulerConfigJson, Map<String, ?> overrides) {
        return create(name, SchedulerConfigFile.read(schedulerConfigJson), overrides);
    }

    /** The scheduler the file itself names in {@code _class_name}, as a pipeline loads it by default. */
    public static Scheduler fromFile(Path schedulerConfigJson, Map<String, ?> overrides) {
        try {
            return fromConfig(SchedulerConfigFile.read(schedulerConfigJson), overrides);
        } catch (JDiffusionException e) {
            throw new JDiffusionException(schedulerConfigJson + ": " + e.getMessage(), e);
        }
    }

    /** The scheduler {@code source} names in {@code _class_name}, with {@code overrides} on top. */
    public static Scheduler fromConfig(SchedulerConfigFile source, Map<String, ?> overrides) {
        if (source.className() == null) {
            throw new JDiffusionException("the scheduler config has no _class_name; name the scheduler explicitly");
        }
        return create(source.className(), source, overrides);
    }
}
