import Foundation
import SiphonTestSupport
import XCTest

/// One scrape of `siphon run --http`'s `/metrics` (Prometheus text), and
/// `/status` (JSON), for the metrics tests.
struct MetricsScrape {
    let text: String

    init(port: Int) throws {
        text = try Self.get(port, "/metrics")
    }

    static func get(_ port: Int, _ path: String) throws -> String {
        let result = try SiphonProcess.run(executable: "/usr/bin/curl", arguments: ["-s", "-f", "http://127.0.0.1:\(port)\(path)"])
        guard result.status == 0 else { throw TestSupportError("curl \(path): \(result.status) \(result.stderr)") }
        return result.stdout
    }

    /// The pipeline's object in `/status`.
    static func status(port: Int, pipeline: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(try get(port, "/status").utf8)) as? [String: Any]
        let pipelines = object?["pipelines"] as? [[String: Any]] ?? []
        guard let found = pipelines.first(where: { $0["name"] as? String == pipeline }) else {
            throw TestSupportError("no pipeline \(pipeline) in /status")
        }
        return found
    }

    /// Every sample of `name` whose labels include all of `labels`
    /// (`pipeline="p1"`), as (its label text, value).
    func samples(_ name: String, _ labels: [String: String] = [:]) -> [(labels: String, value: Double)] {
        text.split(separator: "\n").compactMap { line in
            guard line.hasPrefix(name + "{"), let close = line.lastIndex(of: "}") else { return nil }
            let labelText = String(line[line.index(line.startIndex, offsetBy: name.count + 1)..<close])
            guard labels.allSatisfy({ labelText.contains("\($0.key)=\"\($0.value)\"") }),
                  let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)) else { return nil }
            return (labelText, value)
        }
    }

    /// The one sample of `name` with `labels`, or nil.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let found = samples(name, labels)
        return found.count == 1 ? found[0].value : nil
    }

    /// The sum of every sample of `name` with `labels`.
    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples(name, labels).reduce(0) { $0 + $1.value }
    }

    /// A histogram's buckets as (upper bound, cumulative count), in order.
    func buckets(_ name: String, pipeline: String) -> [(le: Double, count: Double)] {
        samples(name + "_bucket", ["pipeline": pipeline]).compactMap { sample in
            guard let range = sample.labels.range(of: "le=\"") else { return nil }
            let bound = sample.labels[range.upperBound...].prefix { $0 != "\"" }
            return (bound == "+Inf" ? .infinity : Double(bound) ?? .nan, sample.value)
        }.sorted { $0.le < $1.le }
    }

    /// What a histogram must look like whatever was observed: cumulative
    /// counts that never go down, ending at `_count`, and every observation
    /// (a commit that reached the sink while the test watched) under 60 s.
    func checkLatencyHistogram(pipeline: String, file: StaticString = #filePath, line: UInt = #line) {
        let name = "siphon_commit_to_sink_seconds"
        let buckets = buckets(name, pipeline: pipeline)
        let count = value(name + "_count", ["pipeline": pipeline]) ?? -1
        XCTAssertEqual(buckets.first?.le, 0.001, "the first bucket is 1 ms: \(text)", file: file, line: line)
        XCTAssertEqual(buckets.last?.le, .infinity, file: file, line: line)
        XCTAssertTrue(zip(buckets, buckets.dropFirst()).allSatisfy { $0.count <= $1.count }, "\(buckets)", file: file, line: line)
        XCTAssertEqual(buckets.last?.count, count, file: file, line: line)
        XCTAssertEqual(buckets.first { $0.le == 60 }?.count, count, "every commit reached the sink within a minute: \(buckets)",
                       file: file, line: line)
        let sum = value(name + "_sum", ["pipeline": pipeline]) ?? -1
        XCTAssertTrue(sum >= 0 && sum <= 60 * count, "sum \(sum) for \(count) observations", file: file, line: line)
    }
}
