/**
 * The simulator's event queue: a binary min-heap ordered by simulated time, ties broken by insertion
 * order, so the same seed always processes the same events in the same order.
 */
interface Entry<T> {
  timeMs: number
  order: number
  item: T
}

export class EventQueue<T> {
  private readonly heap: Array<Entry<T>> = []
  private inserted = 0

  get size (): number {
    return this.heap.length
  }

  push (timeMs: number, item: T): void {
    if (!Number.isFinite(timeMs)) throw new Error(`event time ${timeMs} is not finite`)
    const entry = { timeMs, order: this.inserted++, item }
    const heap = this.heap
    heap.push(entry)
    let index = heap.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!before(entry, heap[parent] as Entry<T>)) break
      heap[index] = heap[parent] as Entry<T>
      index = parent
    }
    heap[index] = entry
  }

  pop (): { timeMs: number, item: T } | undefined {
    const heap = this.heap
    const top = heap[0]
    if (top === undefined) return undefined
    const last = heap.pop() as Entry<T>
    if (heap.length > 0) {
      let index = 0
      for (;;) {
        const left = 2 * index + 1
        if (left >= heap.length) break
        const right = left + 1
        const child = right < heap.length && before(heap[right] as Entry<T>, heap[left] as Entry<T>) ? right : left
        if (!before(heap[child] as Entry<T>, last)) break
        heap[index] = heap[child] as Entry<T>
        index = child
      }
      heap[index] = last
    }
    return { timeMs: top.timeMs, item: top.item }
  }
}

function before<T> (a: Entry<T>, b: Entry<T>): boolean {
  return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.order < b.order)
}
