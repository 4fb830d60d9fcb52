package jdiffusion.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The tiny model travels in the jar and comes out as a diffusers folder, for library users without a checkout. */
class EmbeddedModelTest {
    private static final Path SOURCE = Path.of("models/tiny-shapes");

    @TempDir
    Path dir;

    @Test
    void theBuildPutsTheModelOnTheClassPath() {
        Path folder = EmbeddedModel.folder(EmbeddedModelTest.class.getClassLoader(), dir.resolve("cache"));
        assertTrue(Files.isRegularFile(folder.resolve("unet/diffusion_pytorch_model.safetensors")), folder.toString());
        assertEquals("StableDiffusionPipeline", ModelFolder.resolve(folder.toString()).pipelineClass());
    }

    @Test
    void fromAJarItIsCopiedOnceIntoTheCache() throws Exception {
        Path jar = dir.resolve("jdiffusion.jar");
        List<Path> files;
        try (Stream<Path> walk = Files.walk(SOURCE)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        }
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out)) {
            for (Path f : files) {
                j.putNextEntry(new JarEntry(EmbeddedModel.RESOURCE + SOURCE.relativize(f).toString().replace('\\', '/')));
                j.write(Files.readAllBytes(f));
                j.closeEntry();
            }
        }
        Path cache = dir.resolve("cache");
        Path folder;
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()}, null)) {
            folder = EmbeddedModel.folder(loader, cache);
            assertTrue(folder.startsWith(cache), folder.toString());
            for (Path f : files) {
                assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(folder.resolve(SOURCE.relativize(f).toString())), f.toString());
            }
            FileTime written = Files.getLastModifiedTime(folder.resolve("model_index.json"));
            assertEquals(folder, EmbeddedModel.folder(loader, cache), "the second call reuses the copy");
            assertEquals(written, Files.getLastModifiedTime(folder.resolve("model_index.json")));
        }
        try (Stream<Path> s = Files.list(cache)) {
            assertEquals(List.of(folder), s.toList(), "no staging folder is left behind");
        }
        assertEquals("StableDiffusionPipeline", ModelFolder.resolve(folder.toString()).pipelineClass());
    }

    @Test
    void aJarWithoutTheModelSaysSo() throws IOException {
        Path empty = dir.resolve("empty.jar");
        try (OutputStream out = Files.newOutputStream(empty); JarOutputStream j = new JarOutputStream(out)) {
            j.putNextEntry(new JarEntry("x.txt"));
            j.closeEntry();
        }
        try (URLClassLoader loader = new URLClassLoader(new URL[] {empty.toUri().toURL()}, null)) {
            var e = assertThrows(JDiffusionException.class, () -> EmbeddedModel.folder(loader, dir));
            assertTrue(e.getMessage().contains("--model"), e.getMessage());
        }
    }

    @Test
    void theCacheFollowsXdg() {
        assertEquals(Path.of("/x/jdiffusion"), EmbeddedModel.cacheRoot(Map.of("XDG_CACHE_HOME", "/x"), "/home/u"));
        assertEquals(Path.of("/home/u/.cache/jdiffusion"), EmbeddedModel.cacheRoot(Map.of(), "/home/u"));
    }
}
