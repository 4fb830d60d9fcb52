package jdiffusion.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jdiffusion.Golden;
import jdiffusion.models.clip.CLIPTextModel;
import jdiffusion.models.unet.UNet2DConditionModel;
import jdiffusion.tensor.Tensors;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.LinearImpl;
import org.bytedeco.pytorch.Module;
import org.bytedeco.pytorch.StringSharedModuleDictItemVector;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** The Java module tree: children by registered name, and a walk that names them as libtorch does. */
class JavaModuleTest {

    @Test
    void theWalkNamesTheJavaObjectsThatRun() {
        ModuleList root = new ModuleList();
        try {
            ModuleList inner = root.add(new ModuleList());
            LinearImpl adaptable = inner.add(Layers.linear(3, 5, true));
            LinearImpl plain = inner.add(new LinearImpl(3, 5));
            root.put(3, Layers.conv2d(3, 5, 1, 1, 0));   // a weightless gap at 1 and 2
            Map<String, Module> named = root.namedModules();
            assertEquals(List.of("0", "0.0", "0.1", "3"), List.copyOf(named.keySet()));
            assertEquals(nativeNames(root), List.copyOf(named.keySet()), "named_modules() of libtorch");
            assertSame(adaptable, named.get("0.0"), "the object whose forward runs, not a fresh wrapper");
            assertInstanceOf(Layers.Linear.class, named.get("0.0"));
            assertFalse(named.get("0.1") instanceof Layers.Linear, "a plain LinearImpl carries no adapter");
            assertSame(plain, inner.childModules().get("1"));
            assertThrows(UnsupportedOperationException.class, () -> root.childModules().clear());
        } finally {
            root.close();
        }
    }

    @Test
    void realModelsWalkLikeNamedModules() {
        Path model = Golden.model("sd1-tiny-pipeline");
        UNet2DConditionModel unet = UNet2DConditionModel.load(model.resolve("unet"), ScalarType.Float, Tensors.CPU);
        CLIPTextModel text = CLIPTextModel.load(model.resolve("text_encoder"), ScalarType.Float, Tensors.CPU);
        try {
            for (JavaModule m : List.<JavaModule>of(unet, text)) {
                Map<String, Module> named = m.namedModules();
                assertEquals(nativeNames(m), List.copyOf(named.keySet()), m.getClass().getSimpleName());
            }
            Module toQ = unet.namedModules().get("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q");
            assertInstanceOf(Layers.Linear.class, toQ);
            Module qProj = text.namedModules().get("text_model.encoder.layers.0.self_attn.q_proj");
            assertInstanceOf(Layers.Linear.class, qProj);
            long linears = unet.namedModules().values().stream().filter(x -> x instanceof Layers.Linear).count();
            assertTrue(linears > 20, "the UNet's linear layers are all reachable: " + linears);
        } finally {
            unet.close();
            text.close();
        }
    }

    private static List<String> nativeNames(Module root) {
        List<String> names = new ArrayList<>();
        try (PointerScope ignored = new PointerScope()) {
            var dict = root.named_modules("", false);
            StringSharedModuleDictItemVector items = dict.items(); // a view into `dict`: keep it reachable
            for (long i = 0; i < items.size(); i++) names.add(items.get(i).key().getString());
            java.lang.ref.Reference.reachabilityFence(dict);
        }
        return names;
    }
}
