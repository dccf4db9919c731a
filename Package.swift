// swift-tools-version: 6.0
// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 portctl maintainers. Licensed under the Apache License, Version 2.0 (LICENSE).
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "portctl",
    // SwiftPM has no way to declare Linux: PortctlDriver and portctl build on Linux only (they
    // link libnftables and speak netlink); PortPolicy, the pure core, builds anywhere Foundation
    // does, and the macOS floor below is the one its Foundation APIs need.
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PortPolicy", targets: ["PortPolicy"]),
        .library(name: "PortctlDriver", targets: ["PortctlDriver"]),
        .executable(name: "portctl", targets: ["portctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // libnftables, the C library; only PortctlDriver imports it.
        .systemLibrary(
            name: "CNftables",
            pkgConfig: "libnftables",
            providers: [.apt(["libnftables-dev"])]
        ),
        // Hands the Swift runtime the program's arguments at start-up, so that portctl parses them
        // where /proc is not mounted (the runtime reads /proc/self/cmdline otherwise).
        .target(name: "CArguments"),
        // The pure core: model, validation, policy file codec, renderer. No libnftables, no I/O.
        .target(
            name: "PortPolicy",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // Everything that touches the machine: libnftables, the policy file, the state directory.
        .target(
            name: "PortctlDriver",
            dependencies: ["PortPolicy", "CNftables"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "portctl",
            dependencies: [
                "PortPolicy", "PortctlDriver", "CArguments",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // A tiny TCP and UDP listener/connector the real-kernel tests run inside network namespaces.
        .executableTarget(name: "netpeer", swiftSettings: strict),
        // Examples/embed: a Swift program that imports the library (built and run by the tests).
        .executableTarget(
            name: "portctl-embed-example",
            dependencies: ["PortPolicy", "PortctlDriver"],
            path: "Examples/embed",
            swiftSettings: strict
        ),
        // The hand-written readers against Yams and Foundation, each by itself
        // (`scripts/bench --only parsers`; docs/benchmarks.md). No root, no kernel.
        .executableTarget(
            name: "portctl-parser-bench",
            dependencies: ["PortPolicy", .product(name: "Yams", package: "Yams")],
            path: "Benchmarks/ParserBench",
            swiftSettings: strict
        ),
        // Seeded random policies, edits and drift for the property tests, and the example
        // dashboard's queries (not a product: the libraries ship no test helpers).
        .target(
            name: "PortctlTestSupport",
            dependencies: ["PortPolicy", "PortctlDriver"],
            path: "Tests/PortctlTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "PortPolicyTests",
            dependencies: ["PortPolicy", "PortctlTestSupport"],
            exclude: ["Golden", "Fixtures"],
            swiftSettings: strict
        ),
        // The change pipeline against the fake kernel: fast, no root.
        .testTarget(
            name: "PortctlDriverTests",
            dependencies: ["PortPolicy", "PortctlDriver", "PortctlTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PortctlKernelTests",
            dependencies: ["PortPolicy", "PortctlDriver", "PortctlTestSupport"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
