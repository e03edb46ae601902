import Logging
import SiphonCore
import Synchronization
import XCTest

final class SourceSupportTests: XCTestCase {
    func testAcknowledgedPositionOnlyMovesForward() {
        let acknowledged = AcknowledgedPosition()
        XCTAssertNil(acknowledged.current)
        acknowledged.advance(to: Position(high: 5, low: 1))
        acknowledged.advance(to: Position(high: 4, low: 9))
        XCTAssertEqual(acknowledged.current, Position(high: 5, low: 1))
    }

    func testReconnectorRetriesTransientErrorsAndThrowsTheOthers() async throws {
        let reconnector = Reconnector(initialDelay: .milliseconds(1), maxDelay: .milliseconds(4), action: "retrying")
        let attempts = Mutex(0)
        try await reconnector.run(logger: Logger(label: "test"), classify: { $0 as! SiphonError }) {
            let attempt = attempts.withLock { $0 += 1; return $0 }
            if attempt < 3 { throw SiphonError(.sourceFatal, "connection lost", transient: true) }
        }
        XCTAssertEqual(attempts.withLock { $0 }, 3)
        do {
            try await reconnector.run(logger: Logger(label: "test"), classify: { $0 as! SiphonError }) {
                throw SiphonError(.configuration, "source.url: wrong")
            }
            XCTFail("a configuration error must end the source")
        } catch let error as SiphonError {
            XCTAssertEqual(error.code, .configuration)
        }
    }

    func testNamePatterns() {
        XCTAssertTrue(NamePattern.matches("public.*", "public.orders"))
        XCTAssertTrue(NamePattern.matches("audit_*_log", "audit_2024_log"))
        XCTAssertFalse(NamePattern.matches("audit_*_log", "audit_2024_logs"))
        XCTAssertTrue(NamePattern.matches("*", ""))
        XCTAssertFalse(NamePattern.matches("orders", "orders2"))
        XCTAssertEqual(Reconnector.format(.milliseconds(1500)), "1500ms")
        XCTAssertEqual(Reconnector.format(.seconds(2)), "2s")
    }
}
