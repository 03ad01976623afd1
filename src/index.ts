/**
 * mesh-coordinator as a library: `import { startNode } from 'mesh-coordinator'` runs a whole mesh node
 * (the same one as `mesh start`) inside your process. See docs/library.md.
 */
import './polyfill.js' // Node 20 lacks Promise.withResolvers, which libp2p calls: first, before any libp2p module

export { startNode, MeshError } from './library/node.js'
export type {
  BroadcastResult,
  DirectSendResult,
  MemberEvent,
  MemberState,
  MemberView,
  MemoryEntry,
  MemoryOptions,
  MemoryWriteOptions,
  MemoryWriteResult,
  MeshMemory,
  MeshNodeEvents,
  MeshNodeHandle,
  MeshTask,
  MeshTasks,
  MessageView,
  NodeStatus,
  ProposalInfo,
  ProposalReceipt,
  ProposeOptions,
  StartNodeOptions,
  TaskContext,
  TaskHandlerFunction,
  TaskState,
  TaskStrategy,
  TaskSubmission
} from './library/types.js'
