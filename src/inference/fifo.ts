// A FIFO with O(1) push/shift and no per-operation allocation; the batcher's queues use it.
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact once the dead prefix dominates, keeping memory proportional to the live queue.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes every item for which `drop` returns true, keeping order. */
  removeWhere(drop: (item: T) => boolean): void {
    const kept: (T | undefined)[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      if (!drop(item)) kept.push(item);
    }
    this.items = kept;
    this.head = 0;
  }
}
