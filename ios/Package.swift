// swift-tools-version:5.9
// Carnet's core for iOS: the XCFramework built by build-xcframework.sh (the
// Rust library for device, simulator and macOS, with its C header and module
// map, module `CarnetCoreFFI`) and the Swift target `CarnetCore`: the
// bindings uniffi generates (CarnetCore.swift, written into
// Sources/CarnetCore/ by the same script) plus the small Swift layer
// Carnet.swift.
//
//     ios/build-xcframework.sh        # on a Mac with Xcode and rustup
//     swift build                     # or add the package to the app in Xcode
//     swift run CarnetSample /tmp/carnet-sample
//     swift run CarnetSuite           # the suite, on the Mac (needs CARNET_TEST_* env)
import PackageDescription

let package = Package(
    name: "CarnetCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "CarnetCore", targets: ["CarnetCore"]),
    ],
    targets: [
        .binaryTarget(name: "CarnetCoreFFI", path: "build/CarnetCoreFFI.xcframework"),
        .target(
            name: "CarnetCore",
            dependencies: ["CarnetCoreFFI"],
            path: "Sources/CarnetCore"
        ),
        // A mediator's shift, from Swift.
        .executableTarget(
            name: "CarnetSample",
            dependencies: ["CarnetCore"],
            path: "Sample"
        ),
        // The same suite scripts/test-swift runs on Linux (build the
        // XCFramework with CARNET_TEST_HOOKS=1 for its hidden test hooks).
        .executableTarget(
            name: "CarnetSuite",
            dependencies: ["CarnetCore"],
            path: "Tests/CarnetSuite"
        ),
    ]
)
