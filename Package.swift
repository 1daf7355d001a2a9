// swift-tools-version: 6.0
// One source, two modes: `swift build`/`swift test` compile this package in normal mode on the host;
// `make firmware ARCH=…` compiles the same targets in Embedded mode through a generated toolset
// (toolchains/setup.sh). Keep every Swift file in the Embedded subset (docs/building.md).
import PackageDescription

let package = Package(
    name: "pgui",
    products: [
        .executable(name: "pgui", targets: ["pgui"]),
        .executable(name: "pgui-bench", targets: ["pgui-bench"]),
    ],
    targets: [
        // C shim modules: module map + header of static inline helpers. The `link` lines serve the
        // host build only; the firmware's libraries are listed in the toolset.
        .systemLibrary(name: "CSystem", path: "Sources/CSystem"),
        .systemLibrary(name: "CMbedTLS", path: "Sources/CMbedTLS"),
        .systemLibrary(name: "CPaho", path: "Sources/CPaho"),
        .systemLibrary(name: "CModbus", path: "Sources/CModbus"),
        // Strong replacements for Embedded-runtime entry points that are wrong on aarch64 (see
        // Sources/CEmbeddedRuntime/runtime.c); empty in the host build.
        .target(name: "CEmbeddedRuntime", path: "Sources/CEmbeddedRuntime"),
        // Pure logic, stdlib only: tested on the host in microseconds, shipped unchanged.
        .target(name: "PGUICore", path: "Sources/PGUICore"),
        // Adapters to the outside world.
        .target(
            name: "PGUIPlatform",
            dependencies: ["PGUICore", "CSystem", "CMbedTLS", "CPaho", "CModbus", "CEmbeddedRuntime"],
            path: "Sources/PGUIPlatform"),
        // Every run-time decision of `pgui run` (links, rotation, set-points, group pipeline, status),
        // reached from the executables only through its public types (docs/architecture.md).
        .target(
            name: "PGUIRuntime",
            dependencies: ["PGUICore", "PGUIPlatform", "CSystem"],
            path: "Sources/PGUIRuntime"),
        // The field binary: `main`, command-line parsing and the wiring of concrete adapters.
        .executableTarget(
            name: "pgui",
            dependencies: ["PGUICore", "PGUIPlatform", "PGUIRuntime", "CSystem"],
            path: "Sources/pgui"),
        // Benchmarks, built for the same three architectures by `make bench`; never shipped.
        .executableTarget(
            name: "pgui-bench",
            dependencies: ["PGUICore", "PGUIPlatform", "PGUIRuntime", "CSystem"],
            path: "Sources/pgui-bench"),
        .testTarget(name: "PGUICoreTests", dependencies: ["PGUICore"], path: "Tests/PGUICoreTests"),
        .testTarget(
            name: "PGUIPlatformTests", dependencies: ["PGUIPlatform", "PGUICore", "CSystem"],
            path: "Tests/PGUIPlatformTests"),
    ]
)
