#!/usr/bin/env bash
# Builds ios/build/CarnetCoreFFI.xcframework and the Swift bindings
# (ios/Sources/CarnetCore/CarnetCore.swift) for the Swift package in ios/.
#
# Runs on a Mac only: it needs Xcode (xcodebuild, lipo, the iOS SDKs) and
# rustup. It cannot run on Linux (no Apple SDKs), where scripts/test-swift
# tests the same Swift bindings against a Linux build of the library instead.
#
# Slices: iOS device (aarch64-apple-ios), iOS simulator (aarch64-apple-ios-sim
# + x86_64-apple-ios, merged with lipo) and macOS (aarch64 + x86_64), so that
# `swift run CarnetSuite` works on the Mac. Static libraries, built with the
# `mobile` profile (the workspace Cargo.toml: size over speed, see
# docs/performance.md).
#
#   CARNET_TEST_HOOKS=1 ios/build-xcframework.sh   # adds the suite's hidden
#                                                  # hooks: never ship that build
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null 2>&1; then
    echo "build-xcframework: needs macOS with Xcode (xcodebuild); this is $(uname -s). Nothing was built." >&2
    exit 2
fi

hooks=""
[ "${CARNET_TEST_HOOKS:-0}" = 1 ] && hooks=",test-hooks"
features=(--features "mobile$hooks")
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0
for t in "${targets[@]}"; do
    echo "build-xcframework: cargo build --profile mobile --target $t" >&2
    cargo build --profile mobile -p carnet-ffi --lib --target "$t" "${features[@]}"
done

out=ios/build
rm -rf "$out"
mkdir -p "$out/headers" "$out/ios-sim" "$out/macos"

# Bindings (library mode, from one of the builds; names from ffi/uniffi.toml).
# The profile strips that dylib, but uniffi reads a Mach-O dylib's metadata
# from its exports, which stripping keeps.
cargo build --release -p carnet-ffi --features "cli$hooks" --bin uniffi-bindgen
target/release/uniffi-bindgen generate --library target/aarch64-apple-darwin/mobile/libcarnet_ffi.dylib \
    --language swift --out-dir "$out/swift"
cp "$out/swift/CarnetCore.swift" ios/Sources/CarnetCore/CarnetCore.swift
cp "$out/swift/CarnetCoreFFI.h" "$out/headers/"
cp "$out/swift/CarnetCoreFFI.modulemap" "$out/headers/module.modulemap"

lipo -create target/aarch64-apple-ios-sim/mobile/libcarnet_ffi.a target/x86_64-apple-ios/mobile/libcarnet_ffi.a \
    -output "$out/ios-sim/libcarnet_ffi.a"
lipo -create target/aarch64-apple-darwin/mobile/libcarnet_ffi.a target/x86_64-apple-darwin/mobile/libcarnet_ffi.a \
    -output "$out/macos/libcarnet_ffi.a"

xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/mobile/libcarnet_ffi.a -headers "$out/headers" \
    -library "$out/ios-sim/libcarnet_ffi.a" -headers "$out/headers" \
    -library "$out/macos/libcarnet_ffi.a" -headers "$out/headers" \
    -output "$out/CarnetCoreFFI.xcframework"

lib=target/aarch64-apple-ios/mobile/libcarnet_ffi.a
echo "build-xcframework: device static library $(stat -f %z "$lib") bytes (the app's linker keeps only what is used)" >&2
echo "build-xcframework: done: $out/CarnetCoreFFI.xcframework; open ios/ in Xcode or add it as a package" >&2
