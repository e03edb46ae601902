// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "siphon",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "siphon", targets: ["siphon"]),
        .library(name: "SiphonCore", targets: ["SiphonCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "5.0.1"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        // Metrics: the core records through swift-metrics; the executable
        // serves them with swift-prometheus over FlyingFox (a small HTTP
        // server on sockets, no SwiftNIO to build).
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
    ],
    targets: [
        // The core: event model, Source/Sink contracts, pipeline, checkpoints, configuration.
        .target(
            name: "SiphonCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .target(
            name: "PostgresSource",
            dependencies: [
                "SiphonCore", "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Connectors/PostgresSource"
        ),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
                       providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "SQLiteSource",
            dependencies: [
                "SiphonCore", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Connectors/SQLiteSource"
        ),
        // sync_file_range, a GNU extension that Swift's Glibc module does not declare.
        .target(name: "CLinuxIO", path: "Sources/CLinuxIO"),
        .target(
            name: "FileSink",
            dependencies: ["SiphonCore", "CLinuxIO", .product(name: "Logging", package: "swift-log")],
            path: "Connectors/FileSink"
        ),
        // librdkafka and its mock cluster (the Kafka sink's tests run against it in-process).
        .systemLibrary(name: "CRdKafka", path: "Sources/CRdKafka", pkgConfig: "rdkafka",
                       providers: [.apt(["librdkafka-dev"])]),
        .target(
            name: "KafkaSink",
            dependencies: ["SiphonCore", "CRdKafka", .product(name: "Logging", package: "swift-log")],
            path: "Connectors/KafkaSink"
        ),
        // The NATS C client (JetStream asynchronous publish with acknowledgements).
        .systemLibrary(name: "CNats", path: "Sources/CNats", pkgConfig: "libnats",
                       providers: [.apt(["libnats-dev"])]),
        .target(
            name: "NatsSink",
            dependencies: ["SiphonCore", "CNats", .product(name: "Logging", package: "swift-log")],
            path: "Connectors/NatsSink"
        ),
        // Database sinks: a live copy of the captured tables in PostgreSQL or SQLite.
        .target(
            name: "PostgresSink",
            dependencies: ["SiphonCore", "CLibPQ", .product(name: "Logging", package: "swift-log")],
            path: "Connectors/PostgresSink"
        ),
        .target(
            name: "SQLiteSink",
            dependencies: ["SiphonCore", "CSQLite", .product(name: "Logging", package: "swift-log")],
            path: "Connectors/SQLiteSink"
        ),
        .executableTarget(
            name: "siphon",
            dependencies: [
                "SiphonCore", "PostgresSource", "SQLiteSource", "FileSink", "KafkaSink", "NatsSink", "PostgresSink", "SQLiteSink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "FlyingFox", package: "FlyingFox"),
            ]
        ),
        .target(name: "SiphonTestSupport", path: "Tests/SiphonTestSupport"),
        // In-memory source and sink, and the conformance suite every sink's tests run.
        .target(
            name: "SiphonTesting",
            dependencies: ["SiphonCore", "SiphonTestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/SiphonTesting"
        ),
        .testTarget(name: "SiphonCoreTests", dependencies: ["SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        .testTarget(name: "PostgresSourceTests", dependencies: ["PostgresSource", "SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        .testTarget(name: "SQLiteSourceTests", dependencies: ["SQLiteSource", "SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        .testTarget(name: "FileSinkTests", dependencies: ["FileSink", "SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        // librdkafka's mock cluster in the test process, and a consumer that reads it back.
        .target(
            name: "KafkaTesting",
            dependencies: ["KafkaSink", "CRdKafka", "SiphonCore", "SiphonTestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/KafkaTesting"
        ),
        // The mock cluster in a process of its own, for the tests that kill siphon.
        .executableTarget(name: "siphon-kafka-mock", dependencies: ["CRdKafka"], path: "Tests/KafkaMockHelper"),
        .testTarget(name: "KafkaSinkTests", dependencies: ["KafkaSink", "KafkaTesting", "CRdKafka", "SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        // A real nats-server (NatsServer in SiphonTestSupport) and a reader of its streams.
        .target(
            name: "NatsTesting",
            dependencies: ["NatsSink", "CNats", "SiphonCore", "SiphonTestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/NatsTesting"
        ),
        .testTarget(name: "NatsSinkTests", dependencies: ["NatsSink", "NatsTesting", "CNats", "SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        // Real PostgreSQL clusters and SQLite files on both sides, real sources feeding the sinks.
        .testTarget(name: "PostgresSinkTests",
                    dependencies: ["PostgresSink", "PostgresSource", "SQLiteSource", "SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        .testTarget(name: "SQLiteSinkTests",
                    dependencies: ["SQLiteSink", "PostgresSink", "PostgresSource", "SQLiteSource", "CSQLite", "SiphonCore", "SiphonTestSupport", "SiphonTesting"]),
        .testTarget(
            name: "SiphonIntegrationTests",
            dependencies: ["SiphonCore", "SiphonTestSupport", "KafkaTesting", "NatsTesting", "siphon", .product(name: "Yams", package: "Yams")],
            exclude: ["Fixtures"]
        ),
    ]
)
