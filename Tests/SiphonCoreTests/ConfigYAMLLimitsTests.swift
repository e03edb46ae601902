import XCTest
@testable import SiphonCore

/// `YAMLLimits`: nesting and alias expansion are bounded before anything is composed.
final class ConfigYAMLLimitsTests: XCTestCase {
    private func nested(_ depth: Int, around value: String = "1") -> String {
        String(repeating: "[", count: depth) + value + String(repeating: "]", count: depth)
    }

    private func parseError(_ yaml: String) -> String? {
        do {
            _ = try ConfigNode.parse(yaml: yaml)
            return nil
        } catch {
            return error.message
        }
    }

    func testNestingUpToTheLimitParses() throws {
        XCTAssertNil(parseError(nested(YAMLLimits.maxDepth)))
        XCTAssertNil(parseError("a:\n  b:\n    c: [1, {d: 2}]\n"))
    }

    func testNestingBeyondTheLimitIsOneLine() throws {
        let message = try XCTUnwrap(parseError("x: 1\ny: " + nested(YAMLLimits.maxDepth)))
        XCTAssertEqual(message, "YAML nested more than 64 levels deep at line 2; a pipeline file needs only a few levels of lists and mappings")
    }

    func testAliasesCountAsDeepAsWhatTheyRepeat() throws {
        let anchored = "a: &a " + nested(YAMLLimits.maxDepth - 2) + "\n"
        XCTAssertNil(parseError(anchored + "b: *a\n"), "one level of mapping plus the anchored value")
        let message = try XCTUnwrap(parseError(anchored + "b: [[*a]]\n"))
        XCTAssertTrue(message.hasPrefix("YAML nested more than 64 levels deep at line 2"), message)
    }

    func testAliasExpansionBudget() throws {
        // 10 values (the list and its 9 strings) repeated by aliases, 100 times: 1,000, within the budget.
        let list = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        let within = list + "b: [" + Array(repeating: "*a", count: 100).joined(separator: ", ") + "]\n"
        XCTAssertNil(parseError(within))
        let beyond = list + "b: [" + Array(repeating: "*a", count: 101).joined(separator: ", ") + "]\n"
        XCTAssertEqual(parseError(beyond),
                       "YAML aliases (*name) repeat more than 1000 values in all (at line 2); write the values out instead of repeating anchors")
    }

    func testSmallAliasKeepsItsValueAndSyntaxErrorsStillNameTheLine() throws {
        let parsed = try ConfigNode.parse(yaml: "slot: &s orders\npublication: *s\n")
        XCTAssertEqual(parsed.root?["publication"], parsed.root?["slot"])
        XCTAssertEqual(parseError("a: *undefined\n")?.hasPrefix("invalid YAML at line 1"), true)
        XCTAssertEqual(parseError("a: [unclosed\n")?.hasPrefix("invalid YAML at line"), true)
    }
}
