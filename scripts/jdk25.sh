# Sourced by ./jdiffusion and ./run-tests: exports JAVA_HOME for a JDK 25 or later.
# The default `java` on our machines is 17, with Temurin 25 installed beside it, so look
# in the usual JVM folders when the one on the PATH is too old.
java_major() {
  "$1" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}

find_jdk25() {
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  local on_path
  on_path=$(command -v java 2>/dev/null) && candidates+=("$(dirname "$(dirname "$(readlink -f "$on_path")")")")
  for d in /usr/lib/jvm/* /opt/java/* /opt/jdk* "$HOME"/.sdkman/candidates/java/*; do
    [ -d "$d" ] && candidates+=("$d")
  done
  local home major
  for home in "${candidates[@]}"; do
    [ -x "$home/bin/java" ] && [ -x "$home/bin/javac" ] || continue
    major=$(java_major "$home/bin/java")
    if [ -n "$major" ] && [ "$major" -ge 25 ] 2>/dev/null; then
      echo "$home"
      return 0
    fi
  done
  return 1
}

if ! JAVA_HOME=$(find_jdk25); then
  echo "jdiffusion needs JDK 25 or later (found: $(java -version 2>&1 | head -1 || echo 'no java'))." >&2
  echo "Install one (e.g. Temurin 25) and set JAVA_HOME to it, then run this again." >&2
  exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"
