import Synchronization

/// The latest position the pipeline acknowledged to a source: written from
/// the sink's task by `Source.acknowledge`, read by the source's own loop.
/// It only moves forward.
public final class AcknowledgedPosition: Sendable {
    private let value = Mutex<Position?>(nil)

    public init() {}

    public func advance(to position: Position) {
        value.withLock { current in
            if current.map({ position > $0 }) ?? true { current = position }
        }
    }

    public var current: Position? { value.withLock { $0 } }
}
