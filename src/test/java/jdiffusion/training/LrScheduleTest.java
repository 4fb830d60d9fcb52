package jdiffusion.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.PredictionType;
import jdiffusion.training.TrainingConfig.LrSchedule;
import org.junit.jupiter.api.Test;

/** The one learning-rate schedule enum, with diffusers' get_scheduler semantics, and the one prediction type. */
class LrScheduleTest {

    private static TrainingConfig config(LrSchedule schedule) {
        return new TrainingConfig(10, 1.0, 4, schedule, 1, 0, 0, 0, false, 0, 0);
    }

    @Test
    void constantTakesNoWarmUpAsInDiffusersTheOthersDo() {
        assertEquals(1.0, config(LrSchedule.CONSTANT).learningRate(0));
        assertEquals(0.25, config(LrSchedule.CONSTANT_WITH_WARMUP).learningRate(0));
        assertEquals(1.0, config(LrSchedule.CONSTANT_WITH_WARMUP).learningRate(4));
        assertEquals(0.5, config(LrSchedule.COSINE).learningRate(1));
        assertEquals(0.0, config(LrSchedule.COSINE).learningRate(10), 1e-12);
    }

    @Test
    void diffusersNamesParse() {
        assertEquals(LrSchedule.CONSTANT_WITH_WARMUP, LrSchedule.parse("constant_with_warmup"));
        assertEquals("cosine", LrSchedule.COSINE.diffusersName());
        assertThrows(JDiffusionException.class, () -> LrSchedule.parse("linear"));
    }

    @Test
    void theObjectiveRefusesSamplePrediction() {
        assertThrows(JDiffusionException.class, () -> new LatentDiffusionObjective(null, null, false, null, PredictionType.SAMPLE));
    }
}
