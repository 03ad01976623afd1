/** Chunked transfer moved to protocols/shared/chunking.ts (both consensus protocols use it). */
export * from '../shared/chunking.js'
