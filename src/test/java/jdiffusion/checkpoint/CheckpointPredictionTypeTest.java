package jdiffusion.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdiffusion.JDiffusionException;
import jdiffusion.schedulers.PredictionType;
import org.junit.jupiter.api.Test;

/** Single-file checkpoints use the one PredictionType, in LDM's and diffusers' spellings, never "sample". */
class CheckpointPredictionTypeTest {

    @Test
    void ldmAndDiffusersSpellingsParseAndSampleIsRefused() {
        assertEquals(PredictionType.V_PREDICTION, PredictionType.parse("v"));
        assertEquals(PredictionType.EPSILON, PredictionType.parse("eps"));
        assertEquals("v_prediction", PredictionType.V_PREDICTION.configName());
        JDiffusionException e = assertThrows(JDiffusionException.class,
                () -> new SingleFileCheckpoint.Options(PredictionType.SAMPLE, null));
        assertTrue(e.getMessage().contains("use epsilon or v_prediction"), e.getMessage());
    }
}
