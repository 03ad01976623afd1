/**
 * Limits of the replicated application, each with its reason (TigerBeetle: a bound on everything).
 * Every bound is enforced inside `apply` as a deterministic rejection, so every replica refuses the
 * same operation at the same sequence number.
 *
 * The snapshot budget. A lagging validator catches up by state transfer: the whole snapshot travels in
 * one STATE frame (protocols/pbft: pbftFrameBytesMax = 16 MiB). Inside that frame the application's
 * snapshot is JSON text escaped twice more (the replica wraps it in its own snapshot, the frame carries
 * the STATE message as JSON), so a `"` in a stored value costs 8 bytes there. The store therefore
 * accounts every stored string by its size *in the frame* (`stateFrameBytes`), and the budgets below add
 * up to about 14 MiB in the worst case, leaving room for the replica's client table and the proof.
 */

/** Largest value, in UTF-8 bytes: memory entries are notes and small documents; bulk data goes to the DHT. */
export const valueBytesMax = 64 * 1024
/** Longest key, in UTF-8 bytes: keys are names and paths, not data. */
export const keyBytesMax = 256
/** Longest namespace name; namespaces are identifiers (`[a-zA-Z0-9_.:-]`), e.g. `agent:planner`. */
export const namespaceLengthMax = 64
export const namespacePattern = new RegExp(`^[a-zA-Z0-9_.:-]{1,${namespaceLengthMax}}$`)
/** Keys in one namespace: one runaway writer cannot take the whole store. */
export const keysPerNamespaceMax = 100_000
/**
 * Keys in the whole store. The frame budget alone would allow ~180k entries with short keys and tiny
 * values (each costs ≥ 41 frame bytes); this keeps the count, and so map and sort costs, lower.
 */
export const keysTotalMax = 150_000
/** Structure around one entry or namespace in the frame (brackets, commas, 4 escaped quotes, the seq). */
export const entryOverheadFrameBytes = 40
/** Budget of the memory store in frame bytes (keys, values, namespaces and their overhead). */
export const memoryFrameBytesMax = 8 * 1024 * 1024

/** Largest proposal body (canonical JSON) in frame bytes: proposals carry digests and short descriptions. */
export const proposalFrameBytesMax = 8 * 1024
/** Proposals open at once: when full, new proposals are refused until some are decided or expire. */
export const proposalsOpenMax = 128
/** Open proposals per proposer: one client cannot fill every slot. */
export const proposalsOpenPerProposerMax = 16
/**
 * Decided proposals remembered for reads; beyond it the earliest decided are forgotten. Worst case of
 * one proposal in the frame: body 8 KiB + proposer 2.3 KiB + 64 votes × ~190 B ≈ 22.5 KiB, so the
 * 128 open + 128 decided take ≤ 5.7 MiB; with the 8 MiB memory store, ≈ 14 MiB.
 */
export const proposalsDecidedKeptMax = 128
/**
 * An open proposal nobody decides within this many sequence numbers expires and frees its slot. The
 * sequence number is the only clock the application has (it must not read wall time).
 */
export const proposalLifetimeSeqs = 100_000
/** Default approval threshold: the fraction of validators whose approval decides a proposal. */
export const thresholdDefault = 0.67
/** Thresholds are exact to 1/10 000 so quorum arithmetic is integer arithmetic (no float rounding). */
export const thresholdScale = 10_000

/** Validators: a small committee (DESIGN.md: 4, 7, 10, 13); bounds the votes kept per proposal. */
export const validatorsMax = 64
/** Validator ids are PeerIds (base58btc or base32 text). */
export const validatorPattern = /^[a-zA-Z0-9]{1,128}$/

/**
 * Longest operation text in UTF-16 code units: a 64 KiB value may take 6 characters per byte once
 * JSON-escaped (`\u0001`), plus the rest of the operation. The replica refuses anything above 1 MiB.
 */
export const operationLengthMax = 512 * 1024
/** Deepest nesting of arrays/objects in an operation (a proposal body nests inside the operation). */
export const operationDepthMax = 32
/** Longest proposal id (`p-<seq>-<index>`). */
export const proposalIdLengthMax = 40
/** Most entries one `list` or `proposals` read returns. */
export const readLimitMax = 1_000

/**
 * Most operations in one bundle (one submitter's pending operations under one signature). The whole
 * bundle stays within operationLengthMax; the bound keeps one request's execution and reply short.
 */
export const bundleOpsMax = 256
