package jdiffusion.io;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** model_index.json as save_pretrained writes it, and nothing else left in the folder. */
class DiffusersFolderWriterTest {

    @Test
    void writesTheModelIndexAsSavePretrainedDoes(@TempDir Path dir) throws Exception {
        ObjectNode index = DiffusersFolderWriter.modelIndex("StableDiffusionPipeline");
        index.set("safety_checker", DiffusersFolderWriter.none());
        index.set("unet", DiffusersFolderWriter.component("diffusers", "UNet2DConditionModel"));
        Path file = dir.resolve("nested").resolve("model_index.json");
        DiffusersFolderWriter.writeJson(file, index);

        JsonNode read = new ObjectMapper().readTree(file.toFile());
        assertEquals("StableDiffusionPipeline", read.get("_class_name").asText());
        assertEquals(DiffusersFolderWriter.DIFFUSERS_VERSION, read.get("_diffusers_version").asText());
        assertEquals("[null,null]", read.get("safety_checker").toString());
        assertEquals("[\"diffusers\",\"UNet2DConditionModel\"]", read.get("unet").toString());
        assertEquals(List.of(file), Files.list(file.getParent()).toList(), "no temporary file left behind");
        assertEquals('\n', Files.readString(file).charAt(Files.readString(file).length() - 1));
    }
}
