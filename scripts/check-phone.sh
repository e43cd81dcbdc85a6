#!/usr/bin/env bash
# Compiles the app's own code for Android and for iOS on this Linux machine, which has no
# NDK and no iOS SDK: the code behind cfg(target_os = "android") and cfg(target_os = "ios")
# in src/platform.rs would otherwise be compiled by nobody until someone runs `dx build`.
#
#   bash scripts/check-phone.sh              # both platforms; fails on any error or warning
#   bash scripts/check-phone.sh --self-test  # also shows that a type error in either
#                                            # platform's code makes the check fail
#
# How: the library and the app's binary (features `mobile`, as `dx build` builds them) are
# checked by clippy for the host with the built-in cfg overridden for this crate alone (`--cfg 'target_os="android"'`,
# then "ios"), with `-D warnings`. The platforms' own crates become ordinary dependencies of
# a scratch copy of Cargo.toml, at the versions Cargo.lock holds: jni and ndk-context build
# for any host; security-framework compiles to nothing off Apple (`#![cfg(target_vendor =
# "apple")]`), so a scratch copy of it without that line is patched in.
#
# What it covers: our code on both platforms, type-checked and linted against the locked
# versions of jni, ndk-context and security-framework (and of everything else). What it does
# not: the vendored OpenSSL and SQLCipher compiled with the NDK or Xcode, 32-bit armv7,
# linking, running, and `dx` itself (README, "Phones").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
self_test=false
case "${1:-}" in
  "") ;;
  --self-test) self_test=true ;;
  *) echo "usage: $0 [--self-test]" >&2; exit 2 ;;
esac

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# $scratch/pkg holds the scratch manifest; the patched crate sits beside it, not inside.
mkdir "$scratch/pkg"
manifest=$scratch/pkg/Cargo.toml
# The project's own target folder: dependencies already checked with the same features are
# reused, and this crate's copy is a different package (another path), so nothing clashes.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

# The scratch manifest: the library and the app's binary (the phone build's `main`), no
# benches, tests or examples; the platform-only dependency tables turned into tables every
# Unix host takes; a workspace of its own whose path dependencies (`crates/`) point back
# into the project.
write_manifest() { # $1: the folder that holds src/
  local os
  awk -v src="$1/src/" -v crates="$root/crates/" '
    /^\[\[(bench|example|test)\]\]$/ { skip = 1; next }
    /^members = / { print "members = [\".\"]"; next }
    /^default-members = / { next }
    { gsub(/path = "crates\//, "path = \"" crates) }
    /^\[/ { skip = 0 }
    skip { next }
    /^path = "src\// { sub(/"src\//, "\"" src) }
    { print }
    /^\[package\]$/ { print "autobins = false\nautoexamples = false\nautotests = false\nautobenches = false" }
    END { print "\n[lib]\npath = \"" src "lib.rs\"" }
  ' "$root/Cargo.toml" |
    sed -e "s/^\[target\.'cfg(target_os = \"\(android\|ios\)\")'\.dependencies\]$/[target.'cfg(any(target_os = \"\1\", unix))'.dependencies]/" \
      >"$manifest"
  for os in android ios; do
    grep -q "^\[target\.'cfg(any(target_os = \"$os\", unix))'\.dependencies\]$" "$manifest" ||
      { echo "check-phone: Cargo.toml has no [target.'cfg(target_os = \"$os\")'.dependencies] table" >&2; exit 1; }
  done
  # Off Apple, security-framework-sys declares the data-protection keychain's constant only
  # under this feature; security-framework uses it everywhere but macOS.
  cat >>"$manifest" <<'EOF'

[dependencies.security-framework-sys]
version = "2"
features = ["OSX_10_15"]

[patch.crates-io]
security-framework = { path = "../security-framework" }
EOF
}

cp "$root/Cargo.lock" "$root/clippy.toml" "$scratch/pkg/"
write_manifest "$root"

# security-framework at its locked version, without the line that empties it off Apple.
sf_manifest=$(cargo metadata --format-version 1 --manifest-path "$root/Cargo.toml" --locked |
  grep -o '"manifest_path":"[^"]*/security-framework-[0-9][^"/]*/Cargo.toml"' | head -1 | cut -d'"' -f4)
[[ -n "$sf_manifest" ]] || { echo "check-phone: security-framework is not in Cargo.lock" >&2; exit 1; }
cp -r "$(dirname "$sf_manifest")" "$scratch/security-framework"
gate='#![cfg(target_vendor = "apple")]'
grep -qxF "$gate" "$scratch/security-framework/src/lib.rs" ||
  { echo "check-phone: security-framework's lib.rs no longer starts with $gate; update this script" >&2; exit 1; }
grep -vxF "$gate" "$scratch/security-framework/src/lib.rs" >"$scratch/lib.rs"
mv "$scratch/lib.rs" "$scratch/security-framework/src/lib.rs"

# Checks the library as built for $1 (android or ios); the output goes to $2.
check() {
  cargo clippy --manifest-path "$manifest" --lib --bin sotay --no-default-features --features mobile \
    --color never -- --cfg "target_os=\"$1\"" -A explicit_builtin_cfgs_in_flags -D warnings >"$2" 2>&1
}

for os in android ios; do
  echo "== phone code: $os"
  check "$os" "$scratch/$os.log" ||
    { cat "$scratch/$os.log"; echo "check-phone: the $os code does not compile cleanly" >&2; exit 1; }
done

if $self_test; then
  # A copy of the sources with a type error put into one platform's module: the check for
  # that platform must fail on that very line.
  mkdir "$scratch/tree"
  ln -s "$root/assets" "$scratch/tree/assets"
  ln -s "$root/docs" "$scratch/tree/docs"
  for os in android ios; do
    rm -rf "$scratch/tree/src"
    cp -r "$root/src" "$scratch/tree/src"
    marker="deliberate type error for $os"
    awk -v module="mod ${os}_keys {" -v line="    const _: u32 = \"$marker\";" '
      $0 == module { inside = 1 }
      inside && $0 == "}" { print line; inside = 0 }
      { print }
    ' "$root/src/platform.rs" >"$scratch/tree/src/platform.rs"
    grep -qF "$marker" "$scratch/tree/src/platform.rs" ||
      { echo "check-phone: found no 'mod ${os}_keys' in src/platform.rs to break" >&2; exit 1; }
    write_manifest "$scratch/tree"
    echo "== self-test: a type error in the $os code"
    if check "$os" "$scratch/broken.log"; then
      cat "$scratch/broken.log"
      echo "check-phone: the $os check passed with a type error in the $os code" >&2
      exit 1
    fi
    grep -q "^error\[E0308\]: mismatched types" "$scratch/broken.log" && grep -qF "$marker" "$scratch/broken.log" ||
      { cat "$scratch/broken.log"; echo "check-phone: the $os check failed, but not on the error put in" >&2; exit 1; }
    echo "   failed as it should, on: $(grep -m1 -F "$marker" "$scratch/broken.log" | sed 's/^ *[0-9]* | *//')"
  done
fi
echo "== phone code: android and ios compile without errors or warnings"
