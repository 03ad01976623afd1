/** Per-process facts from /proc (Linux): resident memory and CPU time of the node processes. */
import { readFileSync } from 'node:fs'
import { loadavg } from 'node:os'

/** VmRSS of a process in KiB, or null when it is gone or /proc is unavailable. */
export function rssKiB (pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
    return match == null ? null : Number(match[1])
  } catch {
    return null
  }
}

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux this runs on. */
const clockTicksPerSecond = 100

/** User + system CPU seconds a process has used so far, or null when it is gone. */
export function cpuSeconds (pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // the command name (field 2) may contain spaces: fields after the last ')' are fixed
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    // rest[0] is field 3 (state); utime is field 14, stime field 15
    const utime = Number(rest[11])
    const stime = Number(rest[12])
    if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null
    return (utime + stime) / clockTicksPerSecond
  } catch {
    return null
  }
}

/** Host-wide CPU busy fraction between two /proc/stat samples. */
export class HostCpu {
  private last = HostCpu.sample()

  static sample (): { busy: number, total: number } {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
      const fields = line.trim().split(/\s+/).slice(1).map(Number)
      const total = fields.reduce((s, v) => s + v, 0)
      const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
      return { busy: total - idle, total }
    } catch {
      return { busy: 0, total: 0 }
    }
  }

  /** Busy fraction (0..1) since the previous call (or construction). */
  busySinceLast (): number | null {
    return this.sinceLast().busyFraction
  }

  /** Busy fraction and busy CPU-seconds (all cores; /proc/stat counts in 1/100 s) since the last call. */
  sinceLast (): { busyFraction: number | null, busyCpuSeconds: number } {
    const now = HostCpu.sample()
    const total = now.total - this.last.total
    const busy = now.busy - this.last.busy
    this.last = now
    return { busyFraction: total <= 0 ? null : Math.round(busy / total * 1000) / 1000, busyCpuSeconds: busy / clockTicksPerSecond }
  }
}

/**
 * What every phase reports about its own conditions: the host load average at its start and end and
 * the CPU this bench process used meanwhile (polling, parsing logs), so a figure can be read against
 * what else ran. `const frame = new PhaseFrame(); …; result.conditions = frame.end()`.
 */
export class PhaseFrame {
  private readonly startedAtMs = Date.now()
  private readonly loadavgAtStart = loadavg().map(v => Math.round(v * 100) / 100)
  private readonly cpuAtStart = process.cpuUsage()

  end (): { loadavgAtStart: number[], loadavgAtEnd: number[], benchProcessCpuSeconds: number, durationMs: number } {
    const used = process.cpuUsage(this.cpuAtStart)
    return {
      loadavgAtStart: this.loadavgAtStart,
      loadavgAtEnd: loadavg().map(v => Math.round(v * 100) / 100),
      benchProcessCpuSeconds: Math.round((used.user + used.system) / 1e4) / 100,
      durationMs: Date.now() - this.startedAtMs
    }
  }
}

/**
 * Idle CPU of each process over a window: CPU-seconds used during it divided by its length (cores).
 * Sleeps for the window; processes gone meanwhile are left out.
 */
export async function idleCores (pids: number[], windowMs: number): Promise<number[]> {
  const before = pids.map(pid => cpuSeconds(pid))
  const t0 = performance.now()
  await new Promise(resolve => setTimeout(resolve, windowMs))
  const seconds = (performance.now() - t0) / 1000
  return pids.flatMap((pid, i) => {
    const a = before[i]
    const b = cpuSeconds(pid)
    return a == null || b == null ? [] : [(b - a) / seconds]
  })
}
