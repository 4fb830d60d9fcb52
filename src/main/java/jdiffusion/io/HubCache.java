package jdiffusion.io;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;
import jdiffusion.JDiffusionException;

/**
 * Finds a Hub repository in the local Hugging Face cache, as huggingface_hub lays it out:
 * {@code $HF_HUB_CACHE} (else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub}) /
 * {@code models--ORG--NAME/snapshots/REV}, where {@code refs/main} names the revision.
 * jdiffusion never downloads: it only reads what is already there.
 */
public final class HubCache {
    private static final Pattern REPO_ID = Pattern.compile("[A-Za-z0-9][\\w.-]*/[\\w.-]+(@[\\w.-]+)?");

    private final Path cacheDir;

    public HubCache(Path cacheDir) {
        this.cacheDir = cacheDir;
    }

    /** The cache the environment points at, following huggingface_hub's precedence. */
    public static HubCache fromEnvironment(Map<String, String> env) {
        String hubCache = env.get("HF_HUB_CACHE");
        if (hubCache != null && !hubCache.isBlank()) return new HubCache(Path.of(hubCache));
        String hfHome = env.get("HF_HOME");
        if (hfHome != null && !hfHome.isBlank()) return new HubCache(Path.of(hfHome, "hub"));
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return new HubCache(Path.of(xdg, "huggingface", "hub"));
        return new HubCache(Path.of(System.getProperty("user.home"), ".cache", "huggingface", "hub"));
    }

    public Path cacheDir() {
        return cacheDir;
    }

    /** True when {@code s} looks like {@code org/name} or {@code org/name@revision}. */
    public static boolean looksLikeRepoId(String s) {
        return REPO_ID.matcher(s).matches();
    }

    /** The snapshot folder of {@code repoId} ({@code org/name}, optionally {@code @revision}). */
    public Path resolve(String repoId) {
        String revision = "main";
        String id = repoId;
        int at = repoId.indexOf('@');
        if (at >= 0) {
            id = repoId.substring(0, at);
            revision = repoId.substring(at + 1);
        }
        Path repoDir = cacheDir.resolve("models--" + id.replace("/", "--"));
        if (!Files.isDirectory(repoDir)) {
            throw new JDiffusionException("'" + repoId + "' is not a folder and is not in the Hugging Face cache ("
                    + cacheDir + "). jdiffusion does not download; fetch it first, e.g. `hf download " + id
                    + "` (or `huggingface-cli download " + id + "`), or pass the path of a local model folder.");
        }
        String commit = revision;
        Path ref = repoDir.resolve("refs").resolve(revision);
        if (Files.isRegularFile(ref)) {
            try {
                commit = Files.readString(ref, StandardCharsets.UTF_8).trim();
            } catch (IOException e) {
                throw new JDiffusionException("cannot read " + ref + ": " + e.getMessage(), e);
            }
        }
        Path snapshot = repoDir.resolve("snapshots").resolve(commit);
        if (!Files.isDirectory(snapshot)) {
            throw new JDiffusionException("the Hugging Face cache has " + repoDir + " but no snapshot for revision '"
                    + revision + "' (looked for " + snapshot + "); download it again with `hf download " + id + "`");
        }
        return snapshot;
    }
}
