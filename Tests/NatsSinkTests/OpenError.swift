import NatsSink
import SiphonCore
import SiphonTestSupport

/// The error `sink.open()` throws; fails the test when it opens.
func openError(_ sink: NatsSink) async throws -> SiphonError {
    do {
        _ = try await sink.open()
        try await sink.close()
    } catch let error as SiphonError {
        return error
    }
    throw TestSupportError("open succeeded")
}
