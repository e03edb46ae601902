import Foundation
import XCTest
@testable import SiphonCore

/// `ConfigReader`: typed reads of one mapping, with every problem reported at its key path.
final class ConfigReaderTests: XCTestCase {
    private func reader(_ yaml: String, problems: ConfigProblems) throws -> ConfigReader {
        let root = try XCTUnwrap(try ConfigNode.parse(yaml: yaml).root)
        return ConfigReader(node: root, keyPath: "source", file: "f.yaml", problems: problems)
    }

    func testTypedReads() throws {
        let problems = ConfigProblems()
        let source = try reader("""
            port: 6432
            workers: 99
            tls: yes
            verbose: FALSE
            a: 500ms
            b: 5s
            c: 2m
            d: 3
            e: 1.5
            one: public.orders
            many: [a, b]
            snapshot: never
            empty: ""
            """, problems: problems)
        XCTAssertEqual(source.int("port", default: 5432, range: 1...65535), 6432)
        XCTAssertEqual(source.int("workers", default: 4, range: 1...16), 4)
        XCTAssertEqual(source.int("absent", default: 7), 7)
        XCTAssertTrue(source.bool("tls", default: false))
        XCTAssertFalse(source.bool("verbose", default: true))
        XCTAssertEqual(source.duration("a", default: .zero), .milliseconds(500))
        XCTAssertEqual(source.duration("b", default: .zero), .seconds(5))
        XCTAssertEqual(source.duration("c", default: .zero), .seconds(120))
        XCTAssertEqual(source.duration("d", default: .zero), .seconds(3))
        XCTAssertEqual(source.duration("e", default: .zero), .milliseconds(1500))
        XCTAssertEqual(source.stringList("one", default: []), ["public.orders"])
        XCTAssertEqual(source.stringList("many", default: []), ["a", "b"])
        XCTAssertEqual(source.choice("snapshot", allowed: ["initial", "never"], default: "initial"), "never")
        XCTAssertNil(source.requiredString("empty"))
        XCTAssertNil(source.string("absent"))
        source.finish()
        XCTAssertEqual(problems.all.map(\.description), [
            "f.yaml: source.workers: must be between 1 and 16 (got '99')",
            "f.yaml: source.empty: required",
        ])
    }

    func testBadValuesReportAndFallBackToDefaults() throws {
        let problems = ConfigProblems()
        let source = try reader("""
            port: abc
            tls: maybe
            timeout: soon
            snapshot: always
            tables: [a, [b], c]
            name: [x]
            """, problems: problems)
        XCTAssertEqual(source.int("port", default: 5432), 5432)
        XCTAssertTrue(source.bool("tls", default: true))
        XCTAssertEqual(source.duration("timeout", default: .seconds(1)), .seconds(1))
        XCTAssertEqual(source.choice("snapshot", allowed: ["initial", "never"], default: "initial"), "initial")
        XCTAssertEqual(source.stringList("tables", default: []), [])
        XCTAssertNil(source.requiredString("name"))
        XCTAssertNil(source.requiredString("slot"))
        XCTAssertEqual(problems.all.map(\.description), [
            "f.yaml: source.port: must be an integer (got 'abc')",
            "f.yaml: source.tls: must be true or false (got 'maybe')",
            "f.yaml: source.timeout: must be a duration such as 500ms, 5s, 2m or 1h (got 'soon')",
            "f.yaml: source.snapshot: must be one of initial, never (got 'always')",
            "f.yaml: source.tables[1]: must be a string, not a list",
            "f.yaml: source.name: must be a string, not a list",
            "f.yaml: source.slot: required",
        ])
    }

    func testDidYouMeanOnlyWhenClose() throws {
        let problems = ConfigProblems()
        let source = try reader("slto: a\ntabels: [x]\nsnapshto: never\ncompletely_different: 1\n", problems: problems)
        _ = source.string("slot")
        _ = source.stringList("tables", default: [])
        _ = source.string("snapshot")
        source.finish()
        source.finish()
        XCTAssertEqual(problems.all.map(\.description), [
            "f.yaml: source.slto: unknown key (did you mean 'slot'?)",
            "f.yaml: source.tabels: unknown key (did you mean 'tables'?)",
            "f.yaml: source.snapshto: unknown key (did you mean 'snapshot'?)",
            "f.yaml: source.completely_different: unknown key",
        ])
        XCTAssertEqual(KeySuggestion.closest(to: "url", among: ["slot", "type"]), nil)
        XCTAssertEqual(KeySuggestion.editDistance(Array("kitten"), Array("sitting")), 3)
    }

    func testChildReadersAndReport() throws {
        let problems = ConfigProblems()
        let source = try reader("tls:\n  mode: require\n  cert: a\n  extra: 1\nhost: x\n", problems: problems)
        let tls = try XCTUnwrap(source.child("tls"))
        XCTAssertEqual(tls.keyPath, "source.tls")
        XCTAssertEqual(tls.choice("mode", allowed: ["disable", "require"], default: "disable"), "require")
        XCTAssertEqual(tls.string("cert"), "a")
        XCTAssertNil(source.child("missing"))
        XCTAssertNil(source.child("host"))
        source.report("url", "not a valid conninfo: missing '='")
        source.finish()
        XCTAssertEqual(problems.all.map(\.description), [
            "f.yaml: source.host: must be a mapping",
            "f.yaml: source.url: not a valid conninfo: missing '='",
            "f.yaml: source.tls.extra: unknown key",
        ])
    }

    func testNodeEqualityKeepsOrder() {
        let a = ConfigNode.mapping([(key: "x", value: .scalar("1")), (key: "y", value: .null)])
        let b = ConfigNode.mapping([(key: "y", value: .null), (key: "x", value: .scalar("1"))])
        XCTAssertEqual(a, a)
        XCTAssertNotEqual(a, b)
        XCTAssertEqual(a["x"], .scalar("1"))
    }

    func testProblemsAreSafeToShareAcrossTasks() async {
        let problems = ConfigProblems()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<100 {
                group.addTask { problems.add(ConfigProblem(file: "f", keyPath: "k\(index)", message: "m")) }
            }
        }
        XCTAssertEqual(problems.all.count, 100)
    }
}
