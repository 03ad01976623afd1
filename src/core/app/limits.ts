/**
 * Limits of the replicated application, each with its reason (TigerBeetle: a bound on everything).
 * Every bound is enforced inside `apply` as a deterministic rejection, so every replica refuses the
 * same operation at the same sequence number.
 *
 * The snapshot budget. A lagging validator (or an observer) catches up by state transfer: the whole
 * snapshot travels in one STATE frame, which the pBFT transport moves in 1 MiB chunks, each checked
 * against its SHA-256 (protocols/pbft: frames up to pbftReassembledBytesMax = 256 MiB; before chunking,
 * one 16 MiB frame capped the whole state). Inside that frame the application's snapshot is JSON text
 * escaped twice more (the replica wraps it in its own snapshot, the frame carries the STATE message as
 * JSON), so a `"` in a stored value costs 8 bytes there. The store therefore accounts every stored string
 * by its size *in the frame* (`stateFrameBytes`), and the budgets below add up to about 40 MiB in the
 * worst case, far below the 256 MiB a transfer may carry:
 *   memory store 32 MiB + proposals ≤ 5.7 MiB (128 open + 128 decided × ≤ 22.5 KiB) + task table 2 MiB
 *   ≈ 39.7 MiB.
 * What bounds the store now is the cost of a snapshot, not the frame: every replica serialises it at
 * every checkpoint (each `checkpoint_interval` decisions), writes it to its consensus log when the
 * checkpoint becomes stable, and holds up to a few copies (its stable checkpoint, its own newer ones).
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
 * Keys in the whole store. The frame budget alone would allow ~730k entries with short keys and tiny
 * values (each costs ≥ 41 frame bytes, ~46 with 5-byte keys); this keeps the count, and so map and sort
 * costs, lower. (150 000 with the 8 MiB budget, 120 000 with 6 MiB; kept when the budget grew to 32 MiB.)
 */
export const keysTotalMax = 120_000
/** Structure around one entry or namespace in the frame (brackets, commas, 4 escaped quotes, the seq). */
export const entryOverheadFrameBytes = 40
/**
 * Budget of the memory store in frame bytes (keys, values, namespaces and their overhead). 32 MiB since
 * state transfer is chunked (it was 6 MiB while the whole snapshot had to fit one 16 MiB frame): room for
 * a store of more than 20 MiB, while a snapshot stays cheap enough to serialise at every checkpoint.
 */
export const memoryFrameBytesMax = 32 * 1024 * 1024

/** Largest proposal body (canonical JSON) in frame bytes: proposals carry digests and short descriptions. */
export const proposalFrameBytesMax = 8 * 1024
/** Proposals open at once: when full, new proposals are refused until some are decided or expire. */
export const proposalsOpenMax = 128
/** Open proposals per proposer: one client cannot fill every slot. */
export const proposalsOpenPerProposerMax = 16
/**
 * Decided proposals remembered for reads; beyond it the earliest decided are forgotten. Worst case of
 * one proposal in the frame: body 8 KiB + proposer 2.3 KiB + 64 votes × ~190 B ≈ 22.5 KiB, so the
 * 128 open + 128 decided take ≤ 5.7 MiB; with the 6 MiB memory store and the 2 MiB task table, ≈ 14 MiB.
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

// ————————————————————————————————————————— the task table

/** Task ids are names chosen by the submitter (`[A-Za-z0-9_.:-]`), unique among the tasks kept. */
export const taskIdLengthMax = 64
export const taskIdPattern = new RegExp(`^[A-Za-z0-9_.:-]{1,${taskIdLengthMax}}$`)
/** Capabilities a task requires: a short list of names (`gpu`, `lang:python`, `model/llama-3`). */
export const taskCapabilitiesMax = 16
export const capabilityPattern = /^[a-z0-9][a-z0-9._:/-]{0,63}$/i
/**
 * Largest task payload and result (JSON text), in UTF-8 bytes: they travel in every replica's state
 * (and its STATE frame); bulk inputs and outputs go to the DHT and the task carries their key.
 */
export const taskPayloadBytesMax = 16 * 1024
export const taskResultBytesMax = 16 * 1024
/**
 * Largest payload or result kept by reference (the design's 1 MiB). Above the inline bounds the data
 * lives in its record on the task's 3 XOR-closest members (protocols/records), and the table holds
 * only `@sha256:<hex>:<bytes>`: the committed digest a reader checks the record against, so a lying
 * record holder cannot substitute the input or the output of a task.
 */
export const taskDataRefBytesMax = 1024 * 1024
/** Longest failure message, in UTF-8 bytes: a reason, not a log. */
export const taskErrorBytesMax = 1024
/** Priorities 0 (lowest) .. 9 (highest); 5 when not given. */
export const taskPriorityMax = 9
export const taskPriorityDefault = 5
/** Execution timeout a task asks for (enforced by the executing node, not here: no clock in the state). */
export const taskTimeoutMsMax = 3_600_000
export const taskTimeoutMsDefault = 60_000
/** History entries kept per task (the last ones): enough for a few reassignments, bounded per task. */
export const taskHistoryMax = 16
/**
 * Open (pending, assigned, running) tasks: when full, submits are refused until tasks finish. It also
 * bounds the work of `node.failed` and of reads.
 */
export const tasksOpenMax = 10_000
/** Finished (completed, failed, cancelled) tasks remembered for reads; beyond it the earliest finished are forgotten. */
export const tasksFinishedKeptMax = 2_000
/**
 * Budget of the task table in frame bytes (ids, capabilities, payloads, results, errors, PeerIds, history
 * and the structure around them, accounted like the memory store). Never exceeded: when an operation
 * needs room, the earliest finished tasks are forgotten first; when that is not enough it is refused
 * (`task.cancel` and `node.failed` drop old history entries instead, see below).
 */
export const tasksFrameBytesMax = 2 * 1024 * 1024
/**
 * Room a submit must leave free: the lifecycle of admitted tasks (assign, start, move: a history entry
 * with a PeerId, ≈ 100 frame bytes; complete: its result) still finds room once submits are refused,
 * so a table full of open tasks can drain instead of refusing everything. (`task.cancel` and
 * `node.failed` hardly grow a task: under pressure they drop its oldest history entries instead.)
 */
export const taskSubmitReserveFrameBytes = 256 * 1024
/**
 * A task in the frame is an array; it costs this structure, plus its strings by `stateFrameBytes`, its
 * numbers and its state and strategy names as written, and each nullable string 4 (`null`) or 8 + its
 * bytes. The structure: brackets and commas (23, with those of its two lists and a separator) and the
 * escaped quotes of its five strings that are never null (40). Exact rather than a worst case, so small
 * tasks can reach the count bounds above: a minimal one costs ~150 frame bytes; a pending task with a
 * 52-character PeerId submitter and a 50-byte payload ~350, so in practice this budget, not
 * tasksOpenMax, bounds the open tasks (at ~5 000 of those).
 */
export const taskOverheadFrameBytes = 63
/** Around one capability: its escaped quotes and a comma. */
export const capabilityOverheadFrameBytes = 9
/**
 * Around one history entry `[seq, event, node, assignment]`: brackets and commas (6) and the event's
 * escaped quotes (8); its numbers, event name and node (nullable) count as written.
 */
export const historyEntryOverheadFrameBytes = 14
/**
 * Task ids listed in the result of `node.failed` (the count is always there): a result is kept in the
 * replica's client table (in every snapshot), so it stays small; the rest are readable as pending tasks.
 */
export const nodeFailedIdsListedMax = 100
