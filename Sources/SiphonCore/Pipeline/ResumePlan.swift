/// Where a pipeline resumes, from what the sink holds and what the state
/// folder says: the resume authority rule (README, "Resume authority").
///
/// - A sink that does not track positions: the checkpoint decides.
/// - A sink that tracks positions is the authority: the pipeline resumes
///   right after the last event it holds. A checkpoint *ahead* of it means
///   the sink lost events (restored from a backup, a file deleted or cut)
///   that the source has already let go of: refuse, never skip them.
/// - A tracking sink that holds events while the state folder has no
///   checkpoint (a crash before the first checkpoint, or a lost state
///   folder) is resumed from unless the source misses what it keeps there
///   (`Source.resumeStateMissing`): the schema versions would start from 1
///   again.
/// - After `siphon offsets reset`, the reset marker records what the sink
///   held then; while the sink still holds exactly that, the pipeline starts
///   from the beginning (a new snapshot after what is already there).
///
/// Pure: the pipeline calls it with what it read and acts on the answer.
public struct ResumePlan: Equatable, Sendable {
    /// Resume strictly after this position; nil: from the beginning.
    public var resumeAfter: Position?
    /// The checkpoint must be saved at `resumeAfter` before the source hears
    /// of it (the sink is ahead of the checkpoint).
    public var catchUpCheckpoint: Bool

    public init(resumeAfter: Position?, catchUpCheckpoint: Bool) {
        self.resumeAfter = resumeAfter
        self.catchUpCheckpoint = catchUpCheckpoint
    }

    /// Decides, or throws the permanent error that says what to do.
    public static func decide(sink: SinkPosition, checkpoint: Position?, reset: ResetMarker?,
                              sourceStateMissing: Bool, stateFolder: String) throws -> ResumePlan {
        guard case .tracked(let held) = sink else {
            return ResumePlan(resumeAfter: checkpoint, catchUpCheckpoint: false)
        }
        if checkpoint == nil, let reset, reset.sinkPosition == held {
            return ResumePlan(resumeAfter: nil, catchUpCheckpoint: false)
        }
        if let checkpoint {
            guard let held, held >= checkpoint else {
                throw SiphonError(.resume, "the sink holds events only up to \(held?.description ?? "none (it is empty)"), but the checkpoint in \(stateFolder) is at \(checkpoint): the events between them are gone from the sink, and the source has already let them go. Restore the sink's data, or start this pipeline over with `siphon offsets reset --config <file> --to beginning --yes` (a new snapshot follows what the sink holds)")
            }
            return ResumePlan(resumeAfter: held, catchUpCheckpoint: held != checkpoint)
        }
        guard let held else { return ResumePlan(resumeAfter: nil, catchUpCheckpoint: false) }
        if sourceStateMissing {
            throw SiphonError(.resume, "the sink holds events up to \(held), but the state folder \(stateFolder) has neither a checkpoint nor the schema history that goes with them (resuming would number schema versions from 1 again). Restore the state folder, or start over with `siphon offsets reset --config <file> --to beginning --yes`")
        }
        return ResumePlan(resumeAfter: held, catchUpCheckpoint: true)
    }
}
