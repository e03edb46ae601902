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

    /// A value of the wrong YAML type is refused with its key path, never converted.
    func testValuesOfTheWrongYAMLTypeAreRefused() throws {
        let problems = ConfigProblems()
        let source = try reader("""
            slot: 5
            publication: true
            url: 1.5
            quoted: "5"
            tables: 5
            patterns: [orders, 7, "8", no]
            port: "6432"
            workers: 1.5
            retries: true
            size: 0x10
            tls: "true"
            verbose: 1
            streaming: on
            timeout: yes
            snapshot: 5
            """, problems: problems)
        XCTAssertNil(source.string("slot"))
        XCTAssertNil(source.requiredString("publication"))
        XCTAssertNil(source.string("url"))
        XCTAssertEqual(source.string("quoted"), "5")
        XCTAssertEqual(source.stringList("tables", default: ["d"]), ["d"])
        XCTAssertEqual(source.stringList("patterns", default: ["d"]), ["d"])
        XCTAssertEqual(source.int("port", default: 1), 1)
        XCTAssertEqual(source.int("workers", default: 1), 1)
        XCTAssertEqual(source.int("retries", default: 1), 1)
        XCTAssertEqual(source.int("size", default: 1), 1)
        XCTAssertFalse(source.bool("tls", default: false))
        XCTAssertFalse(source.bool("verbose", default: false))
        XCTAssertTrue(source.bool("streaming", default: false))
        XCTAssertEqual(source.duration("timeout", default: .seconds(1)), .seconds(1))
        XCTAssertEqual(source.choice("snapshot", allowed: ["initial", "never"], default: "initial"), "initial")
        XCTAssertEqual(problems.all.map(\.description), [
            #"f.yaml: source.slot: must be a string, not a number; quote it ("5") if you mean the text"#,
            #"f.yaml: source.publication: must be a string, not a boolean; quote it ("true") if you mean the text"#,
            #"f.yaml: source.url: must be a string, not a number; quote it ("1.5") if you mean the text"#,
            #"f.yaml: source.tables: must be a list of strings, not a number; quote it ("5") if you mean the text"#,
            #"f.yaml: source.patterns[1]: must be a string, not a number; quote it ("7") if you mean the text"#,
            #"f.yaml: source.patterns[3]: must be a string, not a boolean; quote it ("no") if you mean the text"#,
            "f.yaml: source.port: must be an integer, not a string; write 6432 without quotes",
            "f.yaml: source.workers: must be an integer (got '1.5')",
            "f.yaml: source.retries: must be an integer, not a boolean (got 'true')",
            "f.yaml: source.size: must be an integer in decimal digits (got '0x10')",
            "f.yaml: source.tls: must be true or false, not a string; write true without quotes",
            "f.yaml: source.verbose: must be true or false, not a number (got '1')",
            "f.yaml: source.timeout: must be a duration such as 500ms, 5s, 2m or 1h, not a boolean (got 'yes')",
            "f.yaml: source.snapshot: must be one of initial, never, not a number (got '5')",
        ])
    }

    /// `key:`, `key: ~` and `key: null` are absent; quoted, they are text.
    func testNullsAreAbsentAndQuotedNullsAreText() throws {
        let problems = ConfigProblems()
        let source = try reader("""
            empty:
            tilde: ~
            word: null
            quoted: "~"
            state:
            """, problems: problems)
        for key in ["empty", "tilde", "word", "state"] {
            XCTAssertFalse(source.has(key), key)
            XCTAssertNil(source.string(key), key)
        }
        XCTAssertNil(source.child("state"))
        XCTAssertEqual(source.string("quoted"), "~")
        XCTAssertEqual(problems.all.map(\.description), [])
    }

    func testDurationsTakeUnitsAndPlainOrQuotedNumbersOfSeconds() throws {
        let problems = ConfigProblems()
        let source = try reader("a: 500ms\nb: \"5s\"\nc: 5\nd: 1.5\ne: \"2\"\n", problems: problems)
        XCTAssertEqual(source.duration("a", default: .zero), .milliseconds(500))
        XCTAssertEqual(source.duration("b", default: .zero), .seconds(5))
        XCTAssertEqual(source.duration("c", default: .zero), .seconds(5))
        XCTAssertEqual(source.duration("d", default: .zero), .milliseconds(1500))
        XCTAssertEqual(source.duration("e", default: .zero), .seconds(2))
        XCTAssertEqual(problems.all.map(\.description), [])
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
