package jdiffusion.io;

import java.io.IOException;
import java.io.InputStream;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import jdiffusion.JDiffusionException;

/**
 * The tiny text-to-image model the jar carries ({@code models/tiny-shapes} of the repository, 8.6 MB),
 * as a diffusers folder any loader reads. Inside a jar its files are copied once into a cache folder
 * ({@code $XDG_CACHE_HOME/jdiffusion}, else {@code ~/.cache/jdiffusion}), named by the files'
 * checksums so that a new model never meets an old copy.
 *
 * <p>Example: {@code StableDiffusionPipeline.load(EmbeddedModel.folder().toString(), PipelineOptions.defaults())}.
 */
public final class EmbeddedModel {
    /** Where the model's files sit on the class path. */
    static final String RESOURCE = "jdiffusion/models/tiny-shapes/";

    private EmbeddedModel() {}

    /** The model's folder: in place when the classes are a folder, else copied out of the jar into the user's cache. */
    public static Path folder() {
        return folder(EmbeddedModel.class.getClassLoader(), cacheRoot(System.getenv(), System.getProperty("user.home")));
    }

    static Path folder(ClassLoader loader, Path cacheRoot) {
        URL index = loader.getResource(RESOURCE + "model_index.json");
        if (index == null) {
            throw new JDiffusionException("this jdiffusion jar carries no embedded model (" + RESOURCE + "); pass --model DIR");
        }
        try {
            if (index.getProtocol().equals("file")) return Path.of(index.toURI()).getParent();
            if (!index.getProtocol().equals("jar")) {
                throw new JDiffusionException("the embedded model is at " + index + ", which cannot be read as files");
            }
            JarURLConnection connection = (JarURLConnection) index.openConnection();
            connection.setUseCaches(false);
            try (JarFile jar = connection.getJarFile()) {
                return extract(jar, cacheRoot);
            }
        } catch (IOException | URISyntaxException e) {
            throw new JDiffusionException("cannot read the embedded model (" + e.getMessage() + ")", e);
        }
    }

    private static Path extract(JarFile jar, Path cacheRoot) throws IOException {
        List<JarEntry> files = new ArrayList<>();
        for (JarEntry e : Collections.list(jar.entries())) {
            if (e.getName().startsWith(RESOURCE) && !e.isDirectory()) files.add(e);
        }
        files.sort(Comparator.comparing(JarEntry::getName));
        StringBuilder key = new StringBuilder();
        for (JarEntry e : files) key.append(e.getName()).append(':').append(e.getCrc()).append(':').append(e.getSize()).append('\n');
        String hash;
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256").digest(key.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            hash = HexFormat.of().formatHex(digest, 0, 6);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e); // every JDK has SHA-256
        }
        Path target = cacheRoot.resolve("tiny-shapes-" + hash);
        if (Files.isRegularFile(target.resolve("model_index.json"))) return target;
        Files.createDirectories(cacheRoot);
        Path staging = AtomicFiles.createBeside(target, true);
        try {
            for (JarEntry e : files) {
                Path out = staging.resolve(e.getName().substring(RESOURCE.length()));
                Files.createDirectories(out.getParent());
                try (InputStream in = jar.getInputStream(e)) {
                    Files.copy(in, out);
                }
            }
            try {
                Files.move(staging, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException | java.nio.file.DirectoryNotEmptyException e) {
                // another process extracted it first: theirs is the same files
                if (!Files.isRegularFile(target.resolve("model_index.json"))) throw e;
            }
        } finally {
            deleteRecursively(staging);
        }
        return target;
    }

    /** {@code $XDG_CACHE_HOME/jdiffusion}, else {@code ~/.cache/jdiffusion}. */
    static Path cacheRoot(Map<String, String> env, String home) {
        String xdg = env.get("XDG_CACHE_HOME");
        return (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(home, ".cache")).resolve("jdiffusion");
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // a leftover hidden staging folder is harmless
        }
    }
}
